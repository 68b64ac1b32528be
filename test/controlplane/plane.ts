/**
 * The local control plane: etcd and kube-apiserver on loopback, started from
 * the binaries `build.ts` makes. One plane per checkout and pinned version;
 * its state (PIDs, ports, certificates, tokens, kubeconfig, logs) lives in
 * `.cache/controlplane` (a compatibility plane: `.cache/controlplane-<name>`)
 * inside the repository, which git ignores. KUBEREFLECT_FEATURE_GATES adds
 * kube-apiserver feature gates (`Name=true,Other=false`); a running plane is
 * reused only when its gates are the same.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBinaries, planeName } from '../../testing/binaries.ts';
import {
  apiRequest,
  featureGates,
  freePort,
  healthy,
  launchPlane,
  type PlaneState,
  processAlive,
  sleep,
  startProcess,
  stopPlane,
  stopProcess,
  waitReady,
} from '../../testing/launch.ts';

export type { PlaneState };
export { apiRequest, featureGates, processAlive };

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const stateDir = join(repoRoot, '.cache', planeName === 'default' ? 'controlplane' : `controlplane-${planeName}`);
/** The kubeconfig `up` writes: contexts `admin` (current), `viewer` and `cert-admin`. */
export const kubeconfigPath = join(stateDir, 'kubeconfig');
const statePath = join(stateDir, 'state.json');

const log = (line: string) => console.error(line);

function readState(): PlaneState | undefined {
  try {
    return JSON.parse(readFileSync(statePath, 'utf8')) as PlaneState;
  } catch {
    return undefined;
  }
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
      await stopPlane(current);
    }
    return { state: await launchPlane(bins, stateDir, { featureGates: gates, log }), started: true };
  });
}

/** Stops the plane and removes its data. */
export function down(): Promise<boolean> {
  return withLock(async () => {
    const current = readState();
    if (current) await stopPlane(current);
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
