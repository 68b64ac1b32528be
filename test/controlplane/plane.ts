/**
 * The local control plane: etcd and kube-apiserver on loopback, started from
 * the binaries `build.ts` makes. One plane per checkout and pinned version;
 * its state (PIDs, ports, certificates, tokens, kubeconfig, logs) lives in
 * `.cache/controlplane` (a compatibility plane: `.cache/controlplane-<name>`)
 * inside the repository, which git ignores. KUBEREFLECT_FEATURE_GATES adds
 * kube-apiserver feature gates (`Name=true,Other=false`); a running plane is
 * reused only when its gates are the same.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { ensureBinaries, planeName, type Binaries } from './build.ts';
import { createPki, pkiIn, readBase64 } from './pki.ts';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const stateDir = join(repoRoot, '.cache', planeName === 'default' ? 'controlplane' : `controlplane-${planeName}`);
/** The kubeconfig `up` writes: contexts `admin` (current), `viewer` and `cert-admin`. */
export const kubeconfigPath = join(stateDir, 'kubeconfig');
const statePath = join(stateDir, 'state.json');

interface ProcessState {
  pid: number;
  bin: string;
  args: string[];
  log: string;
}

/** What `up` records about a running plane. */
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

const log = (line: string) => console.error(line);

function readState(): PlaneState | undefined {
  try {
    return JSON.parse(readFileSync(statePath, 'utf8')) as PlaneState;
  } catch {
    return undefined;
  }
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

async function stopProcess(p: ProcessState | undefined): Promise<void> {
  if (!p || !processAlive(p)) return;
  process.kill(p.pid, 'SIGTERM');
  for (let i = 0; i < 100 && processAlive(p); i++) await sleep(100);
  if (processAlive(p)) process.kill(p.pid, 'SIGKILL');
  for (let i = 0; i < 50 && processAlive(p); i++) await sleep(100);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
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

function startProcess(bin: string, args: string[], logFile: string): ProcessState {
  const fd = openSync(logFile, 'a');
  const child = spawn(bin, args, { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${bin}`);
  return { pid: child.pid, bin, args, log: logFile };
}

function logTail(file: string, lines = 25): string {
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

async function healthy(state: PlaneState): Promise<boolean> {
  if (!processAlive(state.etcd) || !processAlive(state.apiserver)) return false;
  try {
    return (await apiRequest(state, 'GET', '/readyz')).status === 200;
  } catch {
    return false;
  }
}

async function waitReady(state: PlaneState, timeoutMs = 180_000): Promise<void> {
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

/** A directory lock so that two `up`/`down` calls do not race. */
async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  mkdirSync(stateDir, { recursive: true });
  // Outside stateDir: a fresh start empties that folder.
  const lock = `${stateDir}.lock`;
  for (let i = 0; ; i++) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch {
      let owner = 0;
      try {
        owner = Number(readFileSync(join(lock, 'pid'), 'utf8'));
      } catch {
        /* being written */
      }
      const stale = owner > 0 && !pidRuns(owner);
      const old = existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 15 * 60_000;
      if (stale || old) rmSync(lock, { recursive: true, force: true });
      else if (i % 20 === 0) log('waiting for another kubereflect control-plane command to finish…');
      await sleep(500);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function pidRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
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

async function startFresh(bins: Binaries, gates: string): Promise<PlaneState> {
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
    apiserverArgs({ port: apiserverPort, etcdUrl, pkiDir, tokens, featureGates: gates }),
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
    kubeconfig: kubeconfigPath,
    startedAt: new Date().toISOString(),
    etcd,
    apiserver,
  };
  writeFileSync(statePath, JSON.stringify(state, null, 2), { mode: 0o600 });
  try {
    await waitReady(state);
    await bootstrap(state);
  } catch (err) {
    await stopAll(state);
    throw err;
  }
  writeKubeconfig(state, pki.clientCert, pki.clientKey);
  log(`control plane ${state.version}${gates ? ` (feature gates ${gates})` : ''} ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return state;
}

async function stopAll(state: PlaneState): Promise<void> {
  await stopProcess(state.apiserver);
  await stopProcess(state.etcd);
  rmSync(state.etcdDataDir, { recursive: true, force: true });
}

/** The outcome of `up`: the state, and whether this call started it. */
export interface UpResult {
  state: PlaneState;
  started: boolean;
}

/**
 * Starts the plane, or reuses a healthy running one of the same version and
 * feature gates. A stale one, or one with other gates, is stopped first.
 */
export function up(opts: { featureGates?: string } = {}): Promise<UpResult> {
  const gates = featureGates(opts.featureGates);
  return withLock(async () => {
    const bins = await ensureBinaries(log);
    const current = readState();
    const same = current && current.version === bins.versions.kubernetes && (current.featureGates ?? '') === gates;
    if (same && (await healthy(current))) return { state: current, started: false };
    if (current) {
      log(same ? 'found a stale control plane; cleaning it up' : 'the running control plane has other versions or feature gates; replacing it');
      await stopAll(current);
    }
    return { state: await startFresh(bins, gates), started: true };
  });
}

/** Stops the plane and removes its data. */
export function down(): Promise<boolean> {
  return withLock(async () => {
    const current = readState();
    if (current) await stopAll(current);
    for (const entry of ['state.json', 'kubeconfig', 'pki', 'tokens.csv']) rmSync(join(stateDir, entry), { recursive: true, force: true });
    return current !== undefined;
  });
}

/** The recorded state, and whether it is healthy now. */
export async function status(): Promise<{ state?: PlaneState; healthy: boolean }> {
  const state = readState();
  return { state, healthy: state ? await healthy(state) : false };
}

/** Stops kube-apiserver and starts it again with the same arguments and port; etcd keeps running. */
export async function restartApiserver(state: PlaneState): Promise<PlaneState> {
  await stopProcess(state.apiserver);
  const apiserver = startProcess(state.apiserver.bin, state.apiserver.args, state.apiserver.log);
  const next = { ...state, apiserver };
  writeFileSync(statePath, JSON.stringify(next, null, 2), { mode: 0o600 });
  await waitReady(next);
  return next;
}

/** Saves `/openapi/v3` (discovery and every group-version document) and `/openapi/v2` into `dir`. */
export async function saveOpenApi(state: PlaneState, dir: string): Promise<number> {
  const get = async (path: string) => {
    const r = await apiRequest(state, 'GET', path);
    if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.body.slice(0, 200)}`);
    return JSON.parse(r.body) as unknown;
  };
  const pretty = (v: unknown) => `${JSON.stringify(v, null, 1)}\n`;
  mkdirSync(join(dir, 'v3'), { recursive: true });
  const discovery = (await get('/openapi/v3')) as { paths: Record<string, { serverRelativeURL: string }> };
  writeFileSync(join(dir, 'v3.json'), pretty(discovery));
  const paths = Object.keys(discovery.paths).sort();
  for (const p of paths) {
    const file = join(dir, 'v3', `${p}.json`);
    mkdirSync(resolve(file, '..'), { recursive: true });
    writeFileSync(file, pretty(await get(discovery.paths[p]!.serverRelativeURL)));
  }
  writeFileSync(join(dir, 'v2.json'), pretty(await get('/openapi/v2')));
  return paths.length;
}

/** A second kube-apiserver on the same etcd, for tests that restart it or change its flags without disturbing others. */
export interface ExtraApiserver {
  url: string;
  port: number;
  /** A kubeconfig for it, with the same contexts as the main one. */
  kubeconfig: string;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts another kube-apiserver against the plane's etcd, with `extraArgs` appended. */
export async function startExtraApiserver(state: PlaneState, name: string, extraArgs: string[] = []): Promise<ExtraApiserver> {
  const port = await freePort();
  const args = state.apiserver.args.map((a) => (a.startsWith('--secure-port=') ? `--secure-port=${port}` : a)).concat(extraArgs);
  const logFile = join(stateDir, 'logs', `kube-apiserver-${name}-${port}.log`);
  let proc = startProcess(state.apiserver.bin, args, logFile);
  const view = (): PlaneState => ({ ...state, apiserverPort: port, apiserverUrl: `https://127.0.0.1:${port}`, apiserver: proc });
  try {
    await waitReady(view());
  } catch (err) {
    await stopProcess(proc);
    throw err;
  }
  const kubeconfig = join(stateDir, `kubeconfig-${name}-${port}`);
  writeFileSync(kubeconfig, readFileSync(state.kubeconfig, 'utf8').replace(state.apiserverUrl, `https://127.0.0.1:${port}`), { mode: 0o600 });
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    kubeconfig,
    async restart() {
      await stopProcess(proc);
      proc = startProcess(state.apiserver.bin, args, logFile);
      await waitReady(view());
    },
    async stop() {
      await stopProcess(proc);
      rmSync(kubeconfig, { force: true });
    },
  };
}

/** Compacts etcd at its current revision (physically), so that older resourceVersions are gone. Returns the revision. */
export async function compactEtcd(state: Pick<PlaneState, 'etcdUrl'>): Promise<number> {
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${state.etcdUrl}${path}`, { method: 'POST', body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`etcd ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as { header?: { revision?: string } };
  };
  const head = await post('/v3/kv/range', { key: Buffer.from('/').toString('base64'), limit: 1 });
  const revision = Number(head.header?.revision);
  await post('/v3/kv/compaction', { revision: String(revision), physical: true });
  return revision;
}

/** The state of the running plane, for tests that manage it. */
export function currentState(): PlaneState | undefined {
  return readState();
}

/**
 * Registers this process as a user of the plane (a test run, the demo), so
 * that another run finishing does not stop it underneath. Returns a release
 * function that stops the plane only if `stopIfLast` and no other live
 * process still uses it.
 */
export function usePlane(stopIfLast: boolean): () => Promise<void> {
  const users = join(stateDir, 'users');
  mkdirSync(users, { recursive: true });
  const mine = join(users, String(process.pid));
  writeFileSync(mine, '');
  return async () => {
    rmSync(mine, { force: true });
    if (!stopIfLast) return;
    let others: string[] = [];
    try {
      others = readdirSync(users).filter((pid) => pidRuns(Number(pid)));
    } catch {
      /* folder gone: nobody left */
    }
    if (others.length === 0) await down();
  };
}
