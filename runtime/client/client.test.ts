/**
 * `Client` against small local HTTP servers that misbehave on purpose: the
 * real apiserver cannot be made to stall before its headers, send a 502 page
 * or cut a body on demand. The integration tests cover the normal paths.
 */
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { Client, KubeconfigError } from './client.ts';
import { isLoopback } from './credentials.ts';
import { ApiError, KubeError, RequestTimeoutError, TransportError } from '../core/errors.ts';

const TOKEN = 'secret-token-that-must-not-leak';
let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  server?.close();
  server = undefined;
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ client: Client; requests: IncomingMessage[] }> {
  const requests: IncomingMessage[] = [];
  server = createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: TOKEN }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return { client: new Client(kc), requests };
}

async function drain(body: AsyncIterable<Buffer>): Promise<string> {
  let text = '';
  for await (const chunk of body) text += chunk.toString();
  return text;
}

describe('Client', () => {
  it('sends the bearer token and parses JSON', async () => {
    const { client, requests } = await serve((_, res) => res.end('{"kind":"PodList","items":[]}'));
    expect(await client.request({ path: '/api/v1/pods' })).toEqual({ kind: 'PodList', items: [] });
    expect(requests[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    client.close();
  });

  it('retries a 429 after its Retry-After, then succeeds', async () => {
    let n = 0;
    const { client, requests } = await serve((_, res) => {
      if (n++ === 0) {
        res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' });
        res.end('{"kind":"Status","code":429,"reason":"TooManyRequests","message":"slow down"}');
      } else res.end('{"ok":true}');
    });
    const started = Date.now();
    expect(await client.request({ path: '/x' })).toEqual({ ok: true });
    expect(requests).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    client.close();
  });

  it('gives up on 429 after maxRetriesOn429 and reports retryAfterSeconds', async () => {
    const { client, requests } = await serve((_, res) => {
      res.writeHead(429, { 'retry-after': '0' });
      res.end('{"kind":"Status","code":429,"reason":"TooManyRequests"}');
    });
    const err = (await client.request({ path: '/x' }).catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect([err.statusCode, err.reason, err.retryAfterSeconds]).toEqual([429, 'TooManyRequests', 0]);
    expect(requests).toHaveLength(4);
    client.close();
  });

  it('turns a non-Status error page into an ApiError with its status and an excerpt', async () => {
    const { client } = await serve((_, res) => {
      res.writeHead(502, 'Bad Gateway');
      res.end('<html>upstream down</html>');
    });
    const err = (await client.request({ path: '/x' }).catch((e: unknown) => e)) as ApiError;
    expect(err.statusCode).toBe(502);
    expect(err.message).toContain('upstream down');
    expect(err.message).not.toContain(TOKEN);
    client.close();
  });

  it('times out a stream whose server never sends headers', async () => {
    const { client } = await serve(() => {
      /* never answers */
    });
    const err = await client.stream({ path: '/w', idleTimeoutMs: 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestTimeoutError);
    expect((err as Error).message).toContain('no response headers');
    client.close();
  });

  it('times out a stream that goes silent after some data', async () => {
    const { client } = await serve((_, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"1"}}}\n');
    });
    const body = await client.stream({ path: '/w', idleTimeoutMs: 200 });
    const err = await drain(body).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestTimeoutError);
    expect((err as Error).message).toContain('no data');
    client.close();
  });

  it('reports a body cut mid-way as a TransportError', async () => {
    const { client } = await serve((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"type":"ADDED"');
      setTimeout(() => req.socket.destroy(), 50);
    });
    const body = await client.stream({ path: '/w', idleTimeoutMs: 5_000 });
    const err = await drain(body).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).not.toContain(TOKEN);
    client.close();
  });

  it('reports a refused connection as a TransportError naming the request', async () => {
    const { client } = await serve(() => {});
    server!.close();
    await once(server!, 'close');
    const err = (await client.request({ path: '/api/v1/pods', query: { limit: 5 } }).catch((e: unknown) => e)) as TransportError;
    expect(err).toBeInstanceOf(TransportError);
    expect(err.message).toContain('GET /api/v1/pods?limit=5');
    expect(err.message).toMatch(/ECONNREFUSED/);
    client.close();
  });
});

describe('plain http', () => {
  /** A kubeconfig for `server` with `user` (none when undefined) and no insecure-skip-tls-verify. */
  function kubeConfigFor(server: string, user?: Record<string, unknown>, skipTLSVerify = false): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server, skipTLSVerify }],
      users: user ? [{ name: 'u', ...user }] : [],
      contexts: [{ name: 'x', cluster: 'c', ...(user ? { user: 'u' } : {}) }],
      currentContext: 'x',
    });
    return kc;
  }

  async function listen(): Promise<{ port: number; requests: IncomingMessage[] }> {
    const requests: IncomingMessage[] = [];
    server = createServer((req, res) => {
      requests.push(req);
      res.end('{"ok":true}');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return { port: (server.address() as AddressInfo).port, requests };
  }

  it('works without insecure-skip-tls-verify for a kubeconfig without a user', async () => {
    const { port, requests } = await listen();
    const client = new Client(kubeConfigFor(`http://127.0.0.1:${port}`));
    expect(await client.request({ path: '/api/v1/pods' })).toEqual({ ok: true });
    expect(requests[0]!.headers.authorization).toBeUndefined();
    client.close();
  });

  it('sends a bearer token to a loopback server', async () => {
    const { port, requests } = await listen();
    for (const host of ['127.0.0.1', 'localhost']) {
      const client = new Client(kubeConfigFor(`http://${host}:${port}`, { token: TOKEN }));
      expect(await client.request({ path: '/api/v1/pods' })).toEqual({ ok: true });
      client.close();
    }
    expect(requests.map((r) => r.headers.authorization)).toEqual([`Bearer ${TOKEN}`, `Bearer ${TOKEN}`]);
  });

  it('refuses to send a token in clear text to a host that is not loopback, before connecting, without quoting it', async () => {
    const client = new Client(kubeConfigFor('http://192.0.2.10:8001', { token: TOKEN }));
    const err = (await client.request({ path: '/api/v1/pods' }).catch((e: unknown) => e)) as KubeError;
    expect(err).toBeInstanceOf(KubeError);
    expect(err.code).toBe('ERR_KUBE');
    expect(err.message).toBe(
      'refusing to send credentials in clear text to http://192.0.2.10:8001, a host that is not loopback (use https, a user without credentials, or insecure-skip-tls-verify to allow it)',
    );
    expect(err.message).not.toContain(TOKEN);
    client.close();
  });

  it('refuses basic auth the same way', async () => {
    const client = new Client(kubeConfigFor('http://example.invalid', { username: 'admin', password: TOKEN }));
    const err = (await client.request({ path: '/api/v1/pods' }).catch((e: unknown) => e)) as KubeError;
    expect(err.message).toContain('refusing to send credentials in clear text');
    expect(err.message).not.toContain(TOKEN);
    client.close();
  });

  it('refuses a token over plain http through a proxy, even to a loopback server', async () => {
    const kc = kubeConfigFor('http://127.0.0.1:8001', { token: TOKEN });
    (kc.clusters[0] as { proxyUrl?: string }).proxyUrl = 'http://192.0.2.10:3128';
    const client = new Client(kc);
    const err = (await client.request({ path: '/api/v1/pods' }).catch((e: unknown) => e)) as KubeError;
    expect(err.message).toContain('refusing to send credentials in clear text to http://127.0.0.1:8001');
    client.close();
  });

  it('sends nothing in clear text to another host when the user has no credentials, only a client certificate', async () => {
    // No TLS, so the certificate is not used; nothing secret goes on the wire and the request is made.
    const client = new Client(kubeConfigFor('http://192.0.2.10:8001', { certData: 'Y2VydA==', keyData: 'a2V5' }));
    const err = (await client.request({ path: '/api/v1/pods', timeoutMs: 500 }).catch((e: unknown) => e)) as KubeError;
    expect(['ERR_KUBE_TRANSPORT', 'ERR_KUBE_REQUEST_TIMEOUT']).toContain(err.code);
    client.close();
  });

  it('sends credentials in clear text to another host only when the cluster says insecure-skip-tls-verify', async () => {
    // 192.0.2.0/24 is for documentation: the connection fails or times out, but it is attempted.
    const client = new Client(kubeConfigFor('http://192.0.2.10:8001', { token: TOKEN }, true));
    const err = (await client.request({ path: '/api/v1/pods', timeoutMs: 500 }).catch((e: unknown) => e)) as KubeError;
    expect(['ERR_KUBE_TRANSPORT', 'ERR_KUBE_REQUEST_TIMEOUT']).toContain(err.code);
    expect(err.message).not.toContain(TOKEN);
    client.close();
  });

  it('counts as loopback localhost, 127.0.0.0/8 and ::1, by the name as written (nothing is resolved)', () => {
    const hosts = [
      'localhost',
      'LOCALHOST',
      '127.0.0.1',
      '127.9.8.7',
      '[::1]',
      '[0:0:0:0:0:0:0:1]',
      '10.0.0.1',
      '192.0.2.10',
      '[::2]',
      'example.com',
      'localhost.example.com',
    ];
    expect(hosts.filter((h) => isLoopback(h))).toEqual(['localhost', 'LOCALHOST', '127.0.0.1', '127.9.8.7', '[::1]', '[0:0:0:0:0:0:0:1]']);
  });
});

describe('a kubeconfig that selects no cluster', () => {
  const kubeconfig = (extra: object = {}) => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'local', server: 'https://127.0.0.1:6443', skipTLSVerify: false }],
      users: [{ name: 'admin', token: 'secret-token-value' }],
      contexts: [
        { name: 'viewer', cluster: 'local', user: 'admin' },
        { name: 'admin', cluster: 'local', user: 'admin' },
        { name: 'elsewhere', cluster: 'gone', user: 'admin' },
      ],
      currentContext: 'admin',
      ...extra,
    });
    return kc;
  };
  const failure = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      return err as KubeError;
    }
    throw new Error('did not throw');
  };

  it('names a context that does not exist, and the contexts there are (no server, no credential)', () => {
    const err = failure(() => Client.fromKubeConfig(kubeconfig(), { context: 'prod' }));
    expect(err).toBeInstanceOf(KubeconfigError);
    expect(err.code).toBe('ERR_KUBE_KUBECONFIG');
    expect(err.message).toBe('context "prod" not found in the kubeconfig; contexts: admin, elsewhere, viewer');
    expect(err.message).not.toMatch(/secret-token-value|6443/);
  });

  it('names the file for fromFile, and says what is wrong with the current context', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubereflect-kc-'));
    const file = join(dir, 'config');
    writeFileSync(
      file,
      'apiVersion: v1\nkind: Config\nclusters: [{name: local, cluster: {server: "https://127.0.0.1:6443"}}]\ncontexts: [{name: admin, context: {cluster: local}}, {name: elsewhere, context: {cluster: gone}}]\nusers: []\ncurrent-context: missing\n',
    );
    expect(failure(() => Client.fromFile(file, { context: 'prod' })).message).toBe(`context "prod" not found in ${file}; contexts: admin, elsewhere`);
    expect(failure(() => Client.fromFile(file)).message).toBe(`current-context "missing" not found in ${file}; contexts: admin, elsewhere`);
    expect(failure(() => Client.fromFile(file, { context: 'elsewhere' })).message).toBe(
      `context "elsewhere" names cluster "gone", which ${file} does not define; clusters: local`,
    );
    expect(Client.fromFile(file, { context: 'admin' }).server).toBe('https://127.0.0.1:6443');
  });

  it('says when there is no current context at all', () => {
    expect(failure(() => new Client(kubeconfig({ currentContext: '' }))).message).toBe(
      'the kubeconfig has no current-context: pass a context (contexts: admin, elsewhere, viewer)',
    );
  });
});
