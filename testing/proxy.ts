/**
 * A fault-injecting proxy between a kubereflect `Client` and the real
 * kube-apiserver, driven by the test.
 *
 * It terminates TLS with the apiserver's own serving certificate (signed by
 * the plane's CA, SAN 127.0.0.1), so a kubeconfig that points at the proxy
 * verifies exactly as one that points at the apiserver, and forwards every
 * request over a fresh TLS connection to the apiserver with its headers
 * (bearer tokens included) untouched. Speaking HTTP rather than piping TCP
 * lets it cut a response at a chosen byte of a list page or a watch event,
 * stall it, slow it, answer 429/500 itself, splice bad bytes into a
 * watch body or leave lines out of one, and drop query parameters as a
 * proxy that does not know them would. Everything it does not inject comes
 * from the real server.
 *
 * It never logs or stores credentials: a request records only a short hash
 * of its Authorization header, so tests can count distinct tokens.
 */
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import type * as http from 'node:http';
import * as https from 'node:https';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';

/** What the proxy does with one request. Absent: forward it untouched. */
export type Fault =
  /** Answer it here; the apiserver never sees it. */
  | { type: 'respond'; status: number; headers?: Record<string, string>; body?: string | Buffer }
  /** Forward the response head and `afterBytes` bytes of the body, then drop the connection. */
  | { type: 'cut'; afterBytes: number }
  /** Never answer (no head), or go silent after `afterBytes` bytes of the body; the connection stays open. */
  | { type: 'stall'; afterBytes?: number }
  /** Trickle the body: `bytes` every `everyMs`. */
  | { type: 'slow'; bytes: number; everyMs: number }
  /**
   * In a line-delimited (watch) body: pass `after` real lines, then write
   * `bytes(rv)` (rv: the resourceVersion of the last real event, or the
   * request's), then continue, end the response cleanly, or drop the connection.
   */
  | { type: 'inject'; after: number; bytes: (rv: string) => Buffer; then: 'continue' | 'end' | 'cut' }
  /** Wait for `until` before forwarding (or applying `then`). */
  | { type: 'hold'; until: Promise<unknown>; then?: Fault }
  /** Forward the request with its query changed by `edit` (as a proxy that drops parameters it does not know), applying `then`. */
  | { type: 'rewrite'; edit: (query: URLSearchParams) => void; then?: Fault }
  /** In a line-delimited (watch) body: leave out every line `drop` matches; pass the rest. */
  | { type: 'dropLines'; drop: (line: string) => boolean };

/** One request as the proxy saw it. */
export interface ProxiedRequest {
  id: number;
  method: string;
  path: string;
  query: URLSearchParams;
  watch: boolean;
  /** A list page after the first (it carries a continue token). */
  continued: boolean;
  /** First 8 hex digits of sha256(Authorization): tells tokens apart without holding them. */
  auth: string;
  /** `performance.now()` when the request arrived. */
  at: number;
  /** The status the client received (undefined while waiting, or when it got none). */
  status?: number;
  /** The fault applied, by type. */
  fault?: Fault['type'];
  /** Body bytes sent to the client. */
  bytes: number;
  /** For a cut: whether it fell inside a line (an event split in two). */
  midLine?: boolean;
}

export type Rule = (req: ProxiedRequest) => Fault | undefined;

export interface ProxyOptions {
  /** Port of the kube-apiserver on 127.0.0.1. */
  upstreamPort: number;
  /** The plane's pki directory: `ca.crt`, `apiserver.crt`, `apiserver.key`. */
  pkiDir: string;
  /** Serve this certificate instead of the apiserver's (for the TLS-verification checks). */
  serverCert?: { cert: Buffer; key: Buffer };
}

interface Flow {
  req: ProxiedRequest;
  res: http.ServerResponse;
  upstream?: http.ClientRequest;
  upstreamRes?: http.IncomingMessage;
  stalled: boolean;
}

/** A kubeconfig file as `FaultProxy.kubeconfig` parses it, for its `edit` callback. */
export interface KubeconfigDocument {
  /** The clusters: the proxy points each at itself. */
  clusters: { name: string; cluster: Record<string, unknown> & { server: string } }[];
  /** Users, contexts and the rest, as in the file. */
  [field: string]: unknown;
}

export class FaultProxy {
  /** Decides each request's fault; change it at any time. */
  rule: Rule = () => undefined;
  readonly requests: ProxiedRequest[] = [];
  readonly upstreamPort: number;
  private readonly server: https.Server;
  private readonly agent: https.Agent;
  private readonly ca: Buffer;
  private readonly sockets = new Set<Socket>();
  private readonly flows = new Set<Flow>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly files: string[] = [];
  private nextId = 1;

  private constructor(
    opts: ProxyOptions,
    readonly port: number,
    server: https.Server,
  ) {
    this.upstreamPort = opts.upstreamPort;
    this.server = server;
    this.ca = readFileSync(join(opts.pkiDir, 'ca.crt'));
    // A fresh connection per request: a fault on one response must not disturb another.
    this.agent = new https.Agent({ keepAlive: false, ca: this.ca });
  }

  static async start(opts: ProxyOptions): Promise<FaultProxy> {
    const cert = opts.serverCert?.cert ?? readFileSync(join(opts.pkiDir, 'apiserver.crt'));
    const key = opts.serverCert?.key ?? readFileSync(join(opts.pkiDir, 'apiserver.key'));
    const server = https.createServer({ cert, key });
    server.requestTimeout = 0;
    server.headersTimeout = 0;
    // Longer than any test's pause between requests: an idle-close race would add failures nobody injected.
    server.keepAliveTimeout = 120_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const port = (server.address() as { port: number }).port;
    const proxy = new FaultProxy(opts, port, server);
    server.on('connection', (s: Socket) => {
      proxy.sockets.add(s);
      s.on('close', () => proxy.sockets.delete(s));
    });
    // A TLS failure (the client refusing our certificate) is an expected outcome in some tests.
    server.on('tlsClientError', () => {});
    // A failed `hold` (the test's own step failed): drop the connection, as a broken server would.
    server.on('request', (req, res) => void proxy.handle(req, res).catch(() => res.socket?.destroy()));
    return proxy;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** A copy of `kubeconfig` whose clusters point at this proxy, written next to it (removed by `close`); returns its path. */
  kubeconfig(from: string, edit: (config: KubeconfigDocument) => void = () => {}): string {
    const config = parse(readFileSync(from, 'utf8')) as KubeconfigDocument;
    for (const c of config.clusters ?? []) c.cluster.server = this.url;
    edit(config);
    const path = `${from}-proxy-${this.port}-${this.nextId++}`;
    writeFileSync(path, stringify(config), { mode: 0o600 });
    this.files.push(path);
    return path;
  }

  /** Drops every open client connection, whatever it is doing. Returns how many. */
  cutAll(): number {
    const n = this.sockets.size;
    for (const s of this.sockets) s.destroy();
    return n;
  }

  /** Stops forwarding bytes on every response in flight; their connections stay open and silent. Returns how many. */
  stallOpen(): number {
    for (const f of this.flows) f.stalled = true;
    return this.flows.size;
  }

  /** `stallOpen`, as soon as a watch response is in flight to be silenced (within `timeoutMs`). */
  async stallOpenWatches(timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (![...this.flows].some((f) => f.req.watch && f.req.status !== undefined)) {
      if (Date.now() > deadline) throw new Error(`no watch response in flight to silence within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.stallOpen();
  }

  /** Requests so far that match `pred`. */
  count(pred: (r: ProxiedRequest) => boolean = () => true): number {
    return this.requests.filter(pred).length;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const f of this.flows) f.upstream?.destroy();
    for (const s of this.sockets) s.destroy();
    this.agent.destroy();
    for (const f of this.files.splice(0)) rmSync(f, { force: true });
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://proxy');
    const info: ProxiedRequest = {
      id: this.nextId++,
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      watch: url.searchParams.get('watch') === 'true',
      continued: url.searchParams.has('continue'),
      auth: createHash('sha256')
        .update(String(req.headers.authorization ?? ''))
        .digest('hex')
        .slice(0, 8),
      at: performance.now(),
      bytes: 0,
    };
    this.requests.push(info);
    const flow: Flow = { req: info, res, stalled: false };
    this.flows.add(flow);
    res.on('close', () => {
      this.flows.delete(flow);
      flow.upstream?.destroy();
    });
    let fault = this.rule(info);
    info.fault = fault?.type;
    let path = req.url ?? '/';
    while (fault?.type === 'hold' || fault?.type === 'rewrite') {
      if (fault.type === 'hold') await fault.until;
      else {
        const edited = new URL(path, 'https://proxy');
        fault.edit(edited.searchParams);
        path = `${edited.pathname}${edited.search}`;
      }
      fault = fault.then;
    }
    if (res.destroyed) return;
    if (fault?.type === 'respond') {
      info.status = fault.status;
      res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers });
      res.end(fault.body);
      return;
    }
    if (fault?.type === 'stall' && fault.afterBytes === undefined) return; // open and silent
    this.forward(flow, req, fault, path);
  }

  private forward(flow: Flow, req: http.IncomingMessage, fault: Exclude<Fault, { type: 'respond' | 'hold' | 'rewrite' }> | undefined, path: string): void {
    const { res, req: info } = flow;
    const headers = { ...req.headers, host: `127.0.0.1:${this.upstreamPort}` };
    delete headers.connection;
    const up = https.request({ host: '127.0.0.1', port: this.upstreamPort, method: req.method, path, headers, agent: this.agent, ca: this.ca });
    flow.upstream = up;
    // The apiserver unreachable (restarting): drop the client's connection, as a dead server would.
    up.on('error', () => res.socket?.destroy());
    req.pipe(up);
    up.on('response', (ur) => {
      flow.upstreamRes = ur;
      info.status = ur.statusCode;
      const out = { ...ur.headers };
      delete out.connection;
      delete out['keep-alive'];
      delete out['transfer-encoding'];
      if (fault?.type === 'inject' || fault?.type === 'slow' || fault?.type === 'dropLines') delete out['content-length'];
      res.writeHead(ur.statusCode ?? 502, out);
      res.flushHeaders();
      const body = this.bodyHandler(flow, fault);
      ur.on('data', (chunk: Buffer) => body.data(chunk));
      ur.on('end', () => body.end());
      ur.on('error', () => res.socket?.destroy());
    });
  }

  private bodyHandler(flow: Flow, fault: Exclude<Fault, { type: 'respond' | 'hold' | 'rewrite' }> | undefined): { data(b: Buffer): void; end(): void } {
    const { res, req: info } = flow;
    let sinceNewline = 0;
    const send = (b: Buffer) => {
      const nl = b.lastIndexOf(0x0a);
      sinceNewline = nl === -1 ? sinceNewline + b.length : b.length - nl - 1;
      this.write(flow, b);
    };
    switch (fault?.type) {
      case 'cut':
      case 'stall': {
        const limit = fault.afterBytes ?? 0;
        if (limit === 0) queueMicrotask(() => (fault.type === 'cut' ? res.socket?.destroy() : (flow.stalled = true)));
        return {
          data: (b) => {
            const room = limit - info.bytes;
            if (room <= 0) return;
            send(b.subarray(0, room));
            if (info.bytes < limit) return;
            if (fault.type === 'stall') {
              flow.stalled = true;
              flow.upstreamRes?.pause();
              return;
            }
            info.midLine = sinceNewline > 0;
            res.socket?.destroy();
          },
          // The body was shorter than the cut point: drop the connection at its end instead.
          end: () => {
            if (fault.type === 'stall') return;
            info.midLine = sinceNewline > 0;
            res.socket?.destroy();
          },
        };
      }
      case 'slow': {
        const queue: Buffer[] = [];
        let ended = false;
        const tick = () => {
          let budget = fault.bytes;
          while (budget > 0 && queue.length > 0) {
            const head = queue[0]!;
            const piece = head.subarray(0, budget);
            send(piece);
            budget -= piece.length;
            if (piece.length === head.length) queue.shift();
            else queue[0] = head.subarray(piece.length);
          }
          if (queue.length > 0 || !ended) schedule();
          else res.end();
        };
        const schedule = () => {
          const t = setTimeout(() => (this.timers.delete(t), res.destroyed || tick()), fault.everyMs);
          this.timers.add(t);
        };
        schedule();
        return { data: (b) => void queue.push(b), end: () => void (ended = true) };
      }
      case 'inject': {
        let lines = 0;
        let done = false;
        let rv = info.query.get('resourceVersion') ?? '';
        let partial: Buffer[] = [];
        const injectNow = () => {
          done = true;
          send(fault.bytes(rv));
          if (fault.then === 'end') {
            flow.upstream?.destroy();
            res.end();
          } else if (fault.then === 'cut') {
            res.socket?.destroy();
          }
        };
        if (fault.after === 0) queueMicrotask(injectNow);
        return {
          data: (b) => {
            if (done) {
              if (fault.then === 'continue') send(b);
              return;
            }
            let start = 0;
            for (let nl = b.indexOf(0x0a); nl !== -1 && !done; nl = b.indexOf(0x0a, start)) {
              const line = Buffer.concat([...partial, b.subarray(start, nl + 1)]);
              partial = [];
              start = nl + 1;
              send(line);
              rv = resourceVersionOf(line) ?? rv;
              if (++lines === fault.after) injectNow();
            }
            if (start < b.length) {
              if (done) {
                if (fault.then === 'continue') send(b.subarray(start));
              } else partial.push(b.subarray(start));
            }
          },
          end: () => {
            if (!res.writableEnded && !res.destroyed) res.end(Buffer.concat(partial));
          },
        };
      }
      case 'dropLines': {
        let partial: Buffer[] = [];
        return {
          data: (b) => {
            let start = 0;
            for (let nl = b.indexOf(0x0a); nl !== -1; nl = b.indexOf(0x0a, start)) {
              const line = Buffer.concat([...partial, b.subarray(start, nl + 1)]);
              partial = [];
              start = nl + 1;
              if (!fault.drop(line.toString('utf8'))) send(line);
            }
            if (start < b.length) partial.push(b.subarray(start));
          },
          end: () => {
            if (!res.writableEnded && !res.destroyed) res.end(Buffer.concat(partial));
          },
        };
      }
      default:
        return { data: send, end: () => res.end() };
    }
  }

  private write(flow: Flow, b: Buffer): void {
    if (flow.res.destroyed || flow.res.writableEnded) return;
    if (flow.stalled) {
      flow.upstreamRes?.pause(); // silent from here on; what was in hand is dropped
      return;
    }
    flow.req.bytes += b.length;
    flow.res.write(b);
  }
}

function resourceVersionOf(line: Buffer): string | undefined {
  try {
    const ev = JSON.parse(line.toString('utf8')) as { object?: { metadata?: { resourceVersion?: string } } };
    return ev.object?.metadata?.resourceVersion || undefined;
  } catch {
    return undefined;
  }
}
