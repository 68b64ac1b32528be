/**
 * `Client` against a small local HTTP server, for the failures the fault
 * suite (`test/faults/`) found against the real apiserver: a refused exec
 * credential that outlives its welcome, a response that is not UTF-8, and a
 * credential plugin whose broken output would be quoted in an error.
 */
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { Client, type ClientOptions } from './client.ts';
import { ApiError, DecodeError, KubeError } from '../core/errors.ts';

let server: Server | undefined;
let dir: string | undefined;
afterEach(() => {
  server?.closeAllConnections();
  server?.close();
  server = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** A server on loopback and a client for it whose user runs `plugin` (node source) as an exec credential plugin. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void, plugin?: string, opts: ClientOptions = {}): Promise<Client> {
  server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  dir = mkdtempSync(join(tmpdir(), 'kubereflect-client-'));
  const user =
    plugin === undefined
      ? { name: 'u', token: 'static-token' }
      : (writeFileSync(join(dir, 'plugin.mjs'), plugin),
        { name: 'u', exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: [join(dir, 'plugin.mjs'), dir] } });
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [user],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return new Client(kc, opts);
}

// Prints "revoked" (valid for an hour, it claims) on its first run, "fresh-<n>" after.
const ROTATING_PLUGIN = `
import { readFileSync, writeFileSync } from 'node:fs';
const f = process.argv[2] + '/calls';
let n = 0;
try { n = Number(readFileSync(f, 'utf8')); } catch {}
writeFileSync(f, String(n + 1));
const expirationTimestamp = new Date(Date.now() + 3600_000).toISOString();
process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: n === 0 ? 'revoked' : 'fresh-' + n, expirationTimestamp } }));
`;

const unauthorizedUnlessFresh = (req: IncomingMessage, res: ServerResponse) => {
  if (req.headers.authorization?.startsWith('Bearer fresh-')) return void res.end('{"ok":true}');
  res.writeHead(401, { 'content-type': 'application/json' });
  res.end('{"kind":"Status","code":401,"reason":"Unauthorized","message":"Unauthorized"}');
};

describe('Client under faults', () => {
  it('asks the exec plugin again after a 401, though the refused credential had not expired', async () => {
    const client = await serve(unauthorizedUnlessFresh, ROTATING_PLUGIN);
    const first = await client.request({ path: '/x' }).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(ApiError);
    expect((first as ApiError).statusCode).toBe(401);
    expect(await client.request({ path: '/x' })).toEqual({ ok: true });
    expect(await client.request({ path: '/x' })).toEqual({ ok: true });
    // Once for the refused credential, once for the fresh one, which is then kept.
    expect(readFileSync(join(dir!, 'calls'), 'utf8')).toBe('2');
    client.close();
  });

  it('does the same when the 401 answers a watch', async () => {
    const client = await serve(unauthorizedUnlessFresh, ROTATING_PLUGIN);
    await expect(client.stream({ path: '/x', query: { watch: true } })).rejects.toMatchObject({ statusCode: 401 });
    const body = await client.stream({ path: '/x', query: { watch: true } });
    let text = '';
    for await (const chunk of body) text += chunk.toString();
    expect(text).toBe('{"ok":true}');
    client.close();
  });

  it('refuses a response that is not valid UTF-8 instead of decoding it into a wrong object', async () => {
    const client = await serve((_, res) =>
      res.end(Buffer.concat([Buffer.from('{"items":[{"metadata":{"name":"bad-'), Buffer.from([0xff, 0xfe]), Buffer.from('"}}]}')])),
    );
    const err = await client.request({ path: '/api/v1/configmaps' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DecodeError);
    expect((err as Error).message).toContain('GET /api/v1/configmaps: response is not valid UTF-8');
    client.close();
  });

  it('never quotes a credential plugin output that is not JSON', async () => {
    const secret = 'SUPERSECRET-a1b2c3d4e5f6';
    const client = await serve((_, res) => res.end('{}'), `process.stdout.write('token: ${secret}');`);
    const err = await client.request({ path: '/x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeError);
    expect((err as Error).message).toMatch(/could not obtain credentials for http:\/\/127\.0\.0\.1:\d+\/?: the credential plugin's output is not valid JSON/);
    for (let i = 0; i + 6 <= secret.length; i++) expect((err as Error).message).not.toContain(secret.slice(i, i + 6));
    client.close();
  });
});

describe('many watches on one client', () => {
  it('each gets its own connection: the socket limit of ordinary requests does not queue streams', async () => {
    // The watches a controller holds live for minutes; queued behind the pool's limit they would never start.
    const open: ServerResponse[] = [];
    const client = await serve(
      (req, res) => {
        if (req.url?.includes('watch=true')) {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"1"}}}\n');
          open.push(res);
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{"kind":"Status"}');
        }
      },
      undefined,
      { maxSockets: 2 },
    );
    const streams = await Promise.all(Array.from({ length: 12 }, () => client.stream({ path: '/api/v1/pods', query: { watch: true }, idleTimeoutMs: 10_000 })));
    expect(streams).toHaveLength(12);
    expect(open).toHaveLength(12);
    // Ordinary requests still go through while every stream is open.
    await expect(client.request({ path: '/api/v1/namespaces' })).resolves.toEqual({ kind: 'Status' });
    for (const res of open) res.end();
    client.close();
  }, 15_000);
});
