/**
 * Starting and stopping a control plane: etcd and kube-apiserver on
 * loopback, from binaries `binaries.ts` finds, with their state (ports,
 * certificates, tokens, the kubeconfig, logs) in a directory of the
 * caller's. The kubeconfig has three contexts: `admin` (a token user in
 * `system:masters`, current), `viewer` (a token user who may only get,
 * list and watch pods in namespace `team-a`) and `cert-admin` (a client
 * certificate in `system:masters`).
 *
 * `startControlPlane` (index.ts) starts one per call in a temporary
 * directory; the repository's own tests keep one per checkout and reuse it
 * across runs (test/controlplane/plane.ts). Both start it here.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Binaries } from './binaries.ts';
import { createPki, pkiIn, readBase64 } from './pki.ts';

/** A process of a plane: its pid, what it runs, and its log file. */
export interface ProcessState {
  pid: number;
  bin: string;
  args: string[];
  log: string;
}

/** What a started plane records: where it listens, its credentials and its processes. */
export interface PlaneState {
  version: string;
  /** kube-apiserver's `--feature-gates` value ('' for the release defaults). */
  featureGates: string;
  apiserverUrl: string;
  apiserverPort: number;
  etcdUrl: string;
  etcdDataDir: string;
  adminToken: string;
  viewerToken: string;
  caCert: string;
  kubeconfig: string;
  startedAt: string;
  etcd: ProcessState;
  apiserver: ProcessState;
}

/** True when `pid` runs and is the binary we started (PIDs are reused). */
export function processAlive(p: ProcessState | undefined): boolean {
  if (!p) return false;
  try {
    process.kill(p.pid, 0);
  } catch {
    return false;
  }
  try {
    const argv0 = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0')[0];
    return argv0 === p.bin;
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

export async function stopProcess(p: ProcessState | undefined): Promise<void> {
  if (!p || !processAlive(p)) return;
  process.kill(p.pid, 'SIGTERM');
  for (let i = 0; i < 100 && processAlive(p); i++) await sleep(100);
  if (processAlive(p)) process.kill(p.pid, 'SIGKILL');
  for (let i = 0; i < 50 && processAlive(p); i++) await sleep(100);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolvePort(addr.port) : reject(new Error('no port'))));
    });
  });
}

export function startProcess(bin: string, args: string[], logFile: string): ProcessState {
  const fd = openSync(logFile, 'a');
  const child = spawn(bin, args, { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${bin}`);
  return { pid: child.pid, bin, args, log: logFile };
}

export function logTail(file: string, lines = 25): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** A plain HTTPS call to the local apiserver as `admin`. */
export function apiRequest(
  state: Pick<PlaneState, 'apiserverPort' | 'caCert' | 'adminToken'>,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<{ status: number; body: string }> {
  return new Promise((resolveReq, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        host: '127.0.0.1',
        port: state.apiserverPort,
        method,
        path,
        ca: readFileSync(state.caCert),
        headers: {
          authorization: `Bearer ${state.adminToken}`,
          accept: 'application/json',
          ...(payload ? { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) } : {}),
        },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolveReq({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export async function healthy(state: PlaneState): Promise<boolean> {
  if (!processAlive(state.etcd) || !processAlive(state.apiserver)) return false;
  try {
    return (await apiRequest(state, 'GET', '/readyz')).status === 200;
  } catch {
    return false;
  }
}

export async function waitReady(state: PlaneState, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    for (const p of [state.etcd, state.apiserver]) {
      if (!processAlive(p)) throw new Error(`${p.bin} exited during start-up; last lines of ${p.log}:\n${logTail(p.log)}`);
    }
    try {
      const r = await apiRequest(state, 'GET', '/readyz');
      if (r.status === 200) return;
      last = `readyz ${r.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(250);
  }
  throw new Error(`kube-apiserver not ready after ${timeoutMs / 1000} s (${last}); see ${state.apiserver.log}`);
}

async function bootstrap(state: PlaneState): Promise<void> {
  const apply = async (path: string, obj: { metadata: { name: string } }) => {
    const r = await apiRequest(
      state,
      'PATCH',
      `${path}/${obj.metadata.name}?fieldManager=kubereflect-controlplane&force=true`,
      obj,
      'application/apply-patch+yaml',
    );
    if (r.status >= 300) throw new Error(`bootstrapping ${path}/${obj.metadata.name}: ${r.status} ${r.body}`);
  };
  await apply('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } } as never);
  await apply('/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/roles', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: 'pod-reader', namespace: 'team-a' },
    rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }],
  } as never);
  await apply('/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'viewer-pod-reader', namespace: 'team-a' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'viewer' }],
  } as never);
}

function writeKubeconfig(state: PlaneState, clientCert: string, clientKey: string): void {
  const cluster = { name: 'kubereflect-local', cluster: { server: state.apiserverUrl, 'certificate-authority-data': readBase64(state.caCert) } };
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': 'admin',
    clusters: [cluster],
    users: [
      { name: 'admin', user: { token: state.adminToken } },
      { name: 'viewer', user: { token: state.viewerToken } },
      { name: 'cert-admin', user: { 'client-certificate-data': readBase64(clientCert), 'client-key-data': readBase64(clientKey) } },
    ],
    contexts: ['admin', 'viewer', 'cert-admin'].map((name) => ({ name, context: { cluster: cluster.name, user: name } })),
  };
  writeFileSync(state.kubeconfig, stringify(config), { mode: 0o600 });
}

/**
 * The feature gates asked for: `gates` or KUBEREFLECT_FEATURE_GATES, normalised
 * (`Name=true|false`, comma-separated, sorted) so that equal sets compare equal.
 */
export function featureGates(gates = process.env.KUBEREFLECT_FEATURE_GATES ?? ''): string {
  const entries = gates
    .split(',')
    .map((g) => g.trim())
    .filter(Boolean);
  for (const entry of entries) {
    if (!/^[A-Za-z0-9]+=(true|false)$/.test(entry)) throw new Error(`feature gate ${JSON.stringify(entry)}: expected Name=true or Name=false`);
  }
  return entries.sort().join(',');
}

function apiserverArgs(opts: { port: number; etcdUrl: string; pkiDir: string; tokens: string; featureGates: string }): string[] {
  const pki = pkiIn(opts.pkiDir);
  return [
    `--etcd-servers=${opts.etcdUrl}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    // 1.37 refuses a loopback advertise address while it maintains the `kubernetes` Service's endpoints; nothing here needs them.
    '--endpoint-reconciler-type=none',
    `--secure-port=${opts.port}`,
    `--tls-cert-file=${pki.serverCert}`,
    `--tls-private-key-file=${pki.serverKey}`,
    `--client-ca-file=${pki.caCert}`,
    `--token-auth-file=${opts.tokens}`,
    '--authorization-mode=RBAC',
    `--service-account-key-file=${pki.saPublic}`,
    `--service-account-signing-key-file=${pki.saPrivate}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    '--service-cluster-ip-range=10.0.0.0/24',
    // No controller-manager creates default service accounts, so pods would be refused.
    '--disable-admission-plugins=ServiceAccount',
    '--profiling=false',
    // Watches of podtemplates go straight to etcd, so tests can make them hit a compacted revision (410).
    '--watch-cache-sizes=podtemplates#0',
    `--cert-dir=${opts.pkiDir}`,
    ...(opts.featureGates ? [`--feature-gates=${opts.featureGates}`] : []),
  ];
}

/** Options of `launchPlane`. */
export interface LaunchOptions {
  /** kube-apiserver's `--feature-gates` (normalised, see `featureGates`). */
  featureGates?: string;
  /** More kube-apiserver flags, after the plane's own. */
  apiserverArgs?: readonly string[];
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

/**
 * Starts etcd and kube-apiserver from `bins`, with their state in `dir`
 * (emptied first): `dir/state.json`, `dir/kubeconfig`, `dir/pki`,
 * `dir/logs`. Resolves once the apiserver is ready and bootstrapped (the
 * `viewer`'s Role); stops what it started if that fails.
 */
export async function launchPlane(bins: Binaries, dir: string, opts: LaunchOptions = {}): Promise<PlaneState> {
  const gates = opts.featureGates ?? '';
  const log = opts.log ?? ((line: string) => console.error(line));
  const stateDir = dir;
  for (const entry of ['state.json', 'kubeconfig', 'pki', 'tokens.csv', 'logs']) rmSync(join(stateDir, entry), { recursive: true, force: true });
  mkdirSync(join(stateDir, 'logs'), { recursive: true });
  const started = Date.now();
  const pkiDir = join(stateDir, 'pki');
  const pki = createPki(pkiDir);
  const adminToken = randomBytes(24).toString('hex');
  const viewerToken = randomBytes(24).toString('hex');
  const tokens = join(stateDir, 'tokens.csv');
  writeFileSync(tokens, `${adminToken},admin,admin-uid,"system:masters"\n${viewerToken},viewer,viewer-uid\n`, { mode: 0o600 });

  const [etcdPort, peerPort, apiserverPort] = [await freePort(), await freePort(), await freePort()];
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const etcdDataDir = mkdtempSync(join(tmpdir(), 'kubereflect-etcd-'));
  const etcd = startProcess(
    bins.etcd,
    [
      '--name=default',
      `--data-dir=${etcdDataDir}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=default=${peerUrl}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
    join(stateDir, 'logs', 'etcd.log'),
  );
  const apiserver = startProcess(
    bins.kubeApiserver,
    [...apiserverArgs({ port: apiserverPort, etcdUrl, pkiDir, tokens, featureGates: gates }), ...(opts.apiserverArgs ?? [])],
    join(stateDir, 'logs', 'kube-apiserver.log'),
  );

  const state: PlaneState = {
    version: bins.versions.kubernetes,
    featureGates: gates,
    apiserverUrl: `https://127.0.0.1:${apiserverPort}`,
    apiserverPort,
    etcdUrl,
    etcdDataDir,
    adminToken,
    viewerToken,
    caCert: pki.caCert,
    kubeconfig: join(stateDir, 'kubeconfig'),
    startedAt: new Date().toISOString(),
    etcd,
    apiserver,
  };
  writeFileSync(join(stateDir, 'state.json'), JSON.stringify(state, null, 2), { mode: 0o600 });
  try {
    await waitReady(state);
    await bootstrap(state);
  } catch (err) {
    await stopPlane(state);
    throw err;
  }
  writeKubeconfig(state, pki.clientCert, pki.clientKey);
  log(`control plane ${state.version}${gates ? ` (feature gates ${gates})` : ''} ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return state;
}

/** Stops a plane's processes and removes its etcd data. */
export async function stopPlane(state: PlaneState): Promise<void> {
  await stopProcess(state.apiserver);
  await stopProcess(state.etcd);
  rmSync(state.etcdDataDir, { recursive: true, force: true });
}
