/**
 * A replay server: serves a recorded pod list and watch body over HTTPS, at
 * full speed, for the scenarios where the real kube-apiserver would be the
 * bottleneck (event throughput, relist peak, fan-out). On this 2-core machine
 * the apiserver writes a few thousand pod events per second at most, while a
 * client can parse tens of thousands; measuring clients against it would
 * measure the apiserver.
 *
 * The data is recorded from the real apiserver: the N pods of the benchmark
 * namespace as it lists them, and `MODIFIED` events made from those pods the
 * way a kubelet's status update changes them (new resourceVersion, a restart
 * count, a condition time, the status manager's managedFields time): rounds
 * of one event per pod, as many rounds as it takes to reach
 * `ctx.minEvents` (default 10,000), so that a small N still gives a run long
 * enough to time. Every client reads the identical bytes.
 *
 * It runs in its own process (so serving does not steal the measured
 * client's event loop) with an HTTP control port:
 *
 * - `POST /reset?plan=events|gone` arms the next watch: `events` streams the
 *   recorded events then holds the connection open; `gone` sends one
 *   in-stream `ERROR` 410 ("too old resource version") and ends it, which
 *   forces a relist. Later watches are held open, silent.
 * - `POST /go` releases the armed watch (it waits for this, so the client
 *   times exactly the stream, not its own start-up).
 *
 * Lists honour `limit` and `continue` (an offset) like the apiserver. A
 * watch with `sendInitialEvents=true` (a streaming list) first gets every pod
 * as `ADDED` and the `k8s.io/initial-events-end` bookmark, then its plan.
 */
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fork, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import * as https from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { Api, Client } from '../runtime/index.ts';
import { createPki, pkiIn, readBase64 } from '../testing/pki.ts';
import { pages, type BenchPod } from './data.ts';
import { namespaceOf, type RunContext } from './harness.ts';
import { kindPath, resourceOf, type BenchKind } from './kinds.ts';

/** The resourceVersion the replayed list reports; events continue from it. */
const LIST_RV = 5_000_000;

export interface ReplayData {
  dir: string;
  /** Absent in data recorded before kinds: pods. */
  kind?: BenchKind;
  /** The URL path of the objects (absent: the pods of `namespace`). */
  path?: string;
  namespace: string;
  n: number;
  /** One pod's JSON per line. */
  podsFile: string;
  /** The watch body: one `MODIFIED` event per line, `events` of them (rounds of one per pod). */
  eventsFile: string;
  events: number;
  eventBytes: number;
}

/** Lists the N pods (or objects of `kind`) from the real apiserver and writes them and N MODIFIED events into `ctx.scratch`. */
export async function recordReplayData(ctx: RunContext, n: number, kind: BenchKind = 'pods'): Promise<ReplayData> {
  const namespace = namespaceOf(ctx, kind, n);
  const dir = join(ctx.scratch, `replay-${namespace}`);
  mkdirSync(dir, { recursive: true });
  const podsFile = join(dir, 'pods.ndjson');
  const eventsFile = join(dir, 'events.ndjson');
  const client = Client.fromFile(ctx.kubeconfig);
  const api = new Api<BenchPod>(client, resourceOf(kind), namespace);
  const pods: BenchPod[] = [];
  for await (const items of pages((o) => api.list(o))) pods.push(...items);
  client.close();
  if (pods.length !== n) throw new Error(`expected ${n} ${kind} in ${namespace}, found ${pods.length}`);
  writeFileSync(podsFile, `${pods.map((p) => JSON.stringify(p)).join('\n')}\n`);
  const rounds = Math.max(1, Math.ceil((ctx.minEvents ?? 10_000) / n));
  const events: string[] = [];
  for (let r = 0; r < rounds; r++) {
    pods.forEach((p, i) => events.push(JSON.stringify({ type: 'MODIFIED', object: modified(p, LIST_RV + 1 + r * n + i, kind) })));
  }
  const body = `${events.join('\n')}\n`;
  writeFileSync(eventsFile, body);
  return { dir, kind, path: kindPath(kind, namespace), namespace, n, podsFile, eventsFile, events: events.length, eventBytes: Buffer.byteLength(body) };
}

/**
 * The object after a typical update: for a pod, a kubelet status update; for
 * a ConfigMap or Secret, its manager applying a changed value; for a
 * Workflow, its controller's status update.
 */
function modified(pod: BenchPod, rv: number, kind: BenchKind = 'pods'): BenchPod {
  const p = structuredClone(pod) as BenchPod & { metadata: { managedFields?: { manager: string; time: string }[] } };
  p.metadata.resourceVersion = String(rv);
  const when = new Date(Date.UTC(2025, 9, 15, 9, 0, 0) + (rv % 86_400) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const manager = { pods: 'kubelet', configmaps: 'helm', secrets: 'cert-manager-certificates-issuing', workflows: 'workflow-controller' }[kind];
  for (const m of p.metadata.managedFields ?? []) if (m.manager === manager) m.time = when;
  if (kind !== 'pods') {
    const o = p as unknown as {
      data?: Record<string, string>;
      metadata: { annotations?: Record<string, string> };
      status?: { progress?: string; finishedAt?: string };
    };
    if (kind === 'configmaps' && o.data) o.data.LOG_LEVEL = rv % 2 ? 'debug' : 'info';
    if (kind === 'secrets') o.metadata.annotations = { ...o.metadata.annotations, 'cert-manager.io/renewed-at': when };
    if (kind === 'workflows' && o.status) o.status.finishedAt = when;
    return p;
  }
  const status = p.status as { containerStatuses?: { restartCount: number }[]; conditions?: { type: string; lastTransitionTime: string }[] } | undefined;
  const first = status?.containerStatuses?.[0];
  if (first) first.restartCount += 1;
  for (const c of status?.conditions ?? []) if (c.type === 'Ready' || c.type === 'ContainersReady') c.lastTransitionTime = when;
  return p;
}

/** A running replay server, seen from the parent. */
export interface Replay {
  /** Kubeconfig pointing at the replay server (context `admin`, any token). */
  kubeconfig: string;
  /** Base URL of the control port. */
  control: string;
  data: ReplayData;
  stop(): Promise<void>;
}

/** Starts a replay server for `data` in its own process. */
export async function startReplay(ctx: RunContext, data: ReplayData): Promise<Replay> {
  const pkiDir = join(ctx.scratch, 'pki');
  const pki = existsSync(pkiIn(pkiDir).serverCert) ? pkiIn(pkiDir) : createPki(pkiDir);
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--replay-server'], {
    execArgv: ['--max-old-space-size=8192', '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  child.send({ data, cert: pki.serverCert, key: pki.serverKey });
  const [ports] = (await once(child, 'message')) as [{ https: number; http: number }];
  // One file per server: two runs replaying the same namespace at once must not read each other's address.
  const kubeconfig = join(data.dir, `kubeconfig-${ports.https}`);
  writeFileSync(
    kubeconfig,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'admin',
      clusters: [{ name: 'replay', cluster: { server: `https://127.0.0.1:${ports.https}`, 'certificate-authority-data': readBase64(pki.caCert) } }],
      users: [{ name: 'admin', user: { token: 'replay' } }],
      contexts: [{ name: 'admin', context: { cluster: 'replay', user: 'admin' } }],
    }),
    { mode: 0o600 },
  );
  return {
    kubeconfig,
    control: `http://127.0.0.1:${ports.http}`,
    data,
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

/** Arms the next watch (`events` or `gone`); called by the measuring child before it starts. */
export async function arm(control: string, plan: 'events' | 'gone'): Promise<void> {
  const res = await fetch(`${control}/reset?plan=${plan}`, { method: 'POST' });
  if (!res.ok) throw new Error(`replay reset: ${res.status}`);
}

/** Releases the armed watch. */
export async function go(control: string): Promise<void> {
  const res = await fetch(`${control}/go`, { method: 'POST' });
  if (!res.ok) throw new Error(`replay go: ${res.status}`);
}

// ---- the server process ----

/** The non-empty lines of `b`, as views into it. */
function splitLines(b: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  for (let at = 0; at < b.length; ) {
    let nl = b.indexOf(0x0a, at);
    if (nl === -1) nl = b.length;
    if (nl > at) lines.push(b.subarray(at, nl));
    at = nl + 1;
  }
  return lines;
}

function serve(cfg: { data: ReplayData; cert: string; key: string }): void {
  // Bytes, not strings: 50,000 pods are more than the longest string V8 can hold (2^29 characters).
  const pods = splitLines(readFileSync(cfg.data.podsFile));
  const events = readFileSync(cfg.data.eventsFile);
  const resource = resourceOf(cfg.data.kind ?? 'pods');
  const apiVersion = resource.group ? `${resource.group}/${resource.version}` : resource.version;
  const path = cfg.data.path ?? `/api/v1/namespaces/${cfg.data.namespace}/pods`;
  const endBookmark = {
    type: 'BOOKMARK',
    object: { kind: resource.kind, apiVersion, metadata: { resourceVersion: String(LIST_RV), annotations: { 'k8s.io/initial-events-end': 'true' } } },
  };
  const added = Buffer.from('{"type":"ADDED","object":');
  const close = Buffer.from('}\n');
  let initialEvents: Buffer | undefined; // built at the first streaming list
  const initial = () => (initialEvents ??= Buffer.concat([...pods.flatMap((p) => [added, p, close]), Buffer.from(`${JSON.stringify(endBookmark)}\n`)]));
  const pages = new Map<string, Buffer>();
  let plan: 'events' | 'gone' = 'events';
  let released = false;
  let armed = true;
  let waiting: (() => void) | undefined;
  const open = new Set<http.ServerResponse>();

  const page = (offset: number, limit: number): Buffer => {
    const key = `${offset}:${limit}`;
    let body = pages.get(key);
    if (!body) {
      const end = Math.min(pods.length, offset + limit);
      const meta: Record<string, string> = { resourceVersion: String(LIST_RV) };
      if (end < pods.length) meta.continue = String(end);
      const comma = Buffer.from(',');
      const items = pods.slice(offset, end).flatMap((p, i) => (i === 0 ? [p] : [comma, p]));
      body = Buffer.concat([
        Buffer.from(`{"kind":"${resource.kind}List","apiVersion":"${apiVersion}","metadata":${JSON.stringify(meta)},"items":[`),
        ...items,
        Buffer.from(']}'),
      ]);
      pages.set(key, body);
    }
    return body;
  };

  const write = async (res: http.ServerResponse, body: Buffer) => {
    const slice = 1 << 18;
    for (let at = 0; at < body.length && !res.destroyed; at += slice) {
      if (!res.write(body.subarray(at, at + slice))) await once(res, 'drain').catch(() => {});
    }
  };

  const watch = async (res: http.ServerResponse, initialList: boolean) => {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    open.add(res);
    res.on('close', () => open.delete(res));
    if (initialList) await write(res, initial());
    if (!armed) return; // held open, silent
    armed = false;
    if (!released) await new Promise<void>((r) => (waiting = r));
    if (res.destroyed) return;
    if (plan === 'gone') {
      res.end(
        `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'too old resource version: 1 (5000000)', reason: 'Expired', code: 410 } })}\n`,
      );
      return;
    }
    await write(res, events);
  };

  const api = https.createServer({ cert: readFileSync(cfg.cert), key: readFileSync(cfg.key), keepAlive: true }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://replay');
    if (req.method !== 'GET' || url.pathname !== path) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"kind":"Status","code":404,"reason":"NotFound","message":"not replayed"}');
      return;
    }
    if (url.searchParams.get('watch') === 'true') {
      void watch(res, url.searchParams.get('sendInitialEvents') === 'true');
      return;
    }
    const limit = Number(url.searchParams.get('limit') ?? 0) || pods.length;
    const offset = Number(url.searchParams.get('continue') ?? 0) || 0;
    const body = page(offset, limit);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }).end(body);
  });

  const control = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://control');
    if (url.pathname === '/reset') {
      plan = url.searchParams.get('plan') === 'gone' ? 'gone' : 'events';
      released = false;
      armed = true;
      waiting = undefined;
      for (const r of open) r.destroy();
      open.clear();
    } else if (url.pathname === '/go') {
      released = true;
      waiting?.();
      waiting = undefined;
    } else {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(204).end();
  });

  // Pooled client sockets must not be closed under a request (a reused idle socket would answer ECONNRESET).
  api.keepAliveTimeout = 600_000;
  api.listen(0, '127.0.0.1', () => {
    control.listen(0, '127.0.0.1', () => {
      process.send!({ https: (api.address() as { port: number }).port, http: (control.address() as { port: number }).port });
    });
  });
  process.on('SIGTERM', () => process.exit(0));
  process.on('disconnect', () => process.exit(0));
}

if (process.argv.includes('--replay-server') && process.send) {
  process.once('message', (cfg) => serve(cfg as { data: ReplayData; cert: string; key: string }));
}
