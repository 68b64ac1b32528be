/**
 * The manager's HTTP endpoints, on one small server: `/healthz` (liveness:
 * 200 while the manager has not failed), `/readyz` (readiness: 200 once
 * every cache has synced and none is stale, with a line per cache and this
 * replica's role; 503 naming what is not), `/metrics` (the prom-client
 * registry, when the manager records metrics). Plain text, as a person
 * reading `curl` and a kubelet probe both want; `?verbose` is accepted and
 * changes nothing (every answer is verbose).
 */
import { createServer, type Server } from 'node:http';
import { type CacheInfo, cacheState } from './caches.ts';
import type { ManagerRole, ManagerStatus } from './manager.ts';

/** Where the endpoints listen. */
export interface EndpointsOptions {
  /** The port (0: any free one; the manager's `url` says which). */
  port: number;
  /** The address to bind (default `0.0.0.0`, so that the kubelet's probes reach it; `127.0.0.1` for local use). */
  host?: string;
}

/** A prom-client registry as `/metrics` serves it. */
export interface MetricsRegistryLike {
  /** The text exposition of every metric. */
  metrics(): Promise<string>;
  /** Its content type. */
  readonly contentType: string;
}

/** The running endpoints. */
export interface Endpoints {
  /** `http://host:port`. */
  readonly url: string;
  /** Stops listening and closes idle connections. */
  close(): Promise<void>;
}

/** Starts the endpoints for `source`; rejects when the port cannot be bound. */
export async function serveEndpoints(
  opts: EndpointsOptions,
  source: { status(): ManagerStatus; readonly name: string },
  registry: MetricsRegistryLike | undefined,
): Promise<Endpoints> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const text = (status: number, body: string) => void res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(`${body}\n`);
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'method not allowed');
    if (path === '/healthz' || path === '/livez') {
      const s = source.status();
      return s.state === 'failed' ? text(500, `failed: ${s.error?.message ?? 'unknown'}`) : text(200, 'ok');
    }
    if (path === '/readyz') {
      const s = source.status();
      return text(s.ready ? 200 : 503, readiness(source.name, s));
    }
    if (path === '/metrics') {
      if (!registry) return text(404, 'no metrics: start the manager with the metrics option');
      registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        (err: Error) => text(500, `metrics failed: ${err.message}`),
      );
      return;
    }
    text(404, 'not found: /healthz, /readyz, /metrics');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as { port: number; address: string };
  const host = opts.host ?? '127.0.0.1';
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The `/readyz` text: a verdict, this replica's role, then one line per cache. */
export function readiness(name: string, s: ManagerStatus): string {
  const notReady = s.caches.filter((c) => cacheState(c) !== 'synced');
  const verdict = s.ready
    ? `ok: ${name} ${s.state}, ${s.caches.length} caches synced`
    : s.state !== 'running' && s.state !== 'starting'
      ? `not ready: ${name} ${s.state}${s.error ? `: ${s.error.message}` : ''}`
      : `not ready: ${notReady.length} of ${s.caches.length} caches ${notReady.length === 1 ? 'is' : 'are'} not synced`;
  return [verdict, `role: ${roleLine(s.role)}`, ...s.caches.map(cacheLine)].join('\n');
}

function roleLine(role: ManagerRole): string {
  if (role.kind === 'single') return 'single (no leader election)';
  if (role.kind === 'shard') return `shard ${role.range ?? '(no range yet)'} (${role.identity})`;
  return role.kind === 'leader' ? `leader (${role.identity})` : `standby (${role.identity}; leader ${role.leader ?? 'unknown'})`;
}

function cacheLine(c: CacheInfo): string {
  const state = cacheState(c);
  const h = c.health;
  const why = state === 'synced' ? `${c.size} objects` : (c.failed?.message ?? h.lastError?.message ?? 'listing');
  const since = h.failingSince !== undefined && state !== 'synced' ? ` (failing for ${Math.round((Date.now() - h.failingSince) / 1000)} s)` : '';
  return `cache ${c.name}: ${state}${since}: ${why} [${c.users.join(', ')}]`;
}
