/**
 * How `Client` obtains credentials from an exec plugin: bounded by the
 * request's timeout and signal, one run at a time, stopped when nobody waits.
 * The plugin is a real process (a small node script); the server is a local
 * HTTP server that only records what it was sent — pure client logic, a
 * control plane would add nothing.
 */
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from './client.ts';
import { ApiError, KubeError, RequestAbortedError, RequestTimeoutError } from '../core/errors.ts';

const TOKEN = 'exec-token-SECRET-9f8e7d6c';

/**
 * The plugin: `node plugin.mjs <dir> <mode> [ms]`. Every run appends its pid
 * to `<dir>/runs`. Modes: `hang` never answers; `sleep` answers after `ms`;
 * `hang-first` hangs on the first run and answers on later ones; `stubborn`
 * hangs and ignores SIGTERM; `expiring` answers with a credential that
 * expires `ms` later; `fail` prints the credential and exits 1; `stdin` reads
 * its stdin to the end, then answers; any other mode answers at once. Each answer is an ExecCredential with TOKEN (and the run number),
 * and `<dir>/exec-info` gets the KUBERNETES_EXEC_INFO it saw.
 */
const PLUGIN = `
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
const [dir, mode, ms] = process.argv.slice(2);
if (mode === 'stubborn') process.on('SIGTERM', () => {});
appendFileSync(dir + '/runs', process.pid + '\\n');
const run = readFileSync(dir + '/runs', 'utf8').trim().split('\\n').length;
writeFileSync(dir + '/exec-info', process.env.KUBERNETES_EXEC_INFO ?? '');
const expirationTimestamp = mode === 'expiring' ? new Date(Date.now() + Number(ms)).toISOString() : undefined;
const answer = (code = 0) => {
  process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: ${JSON.stringify(TOKEN)} + '-' + run, expirationTimestamp } }));
  process.exitCode = code;
};
if (mode === 'hang' || mode === 'stubborn' || (mode === 'hang-first' && run === 1)) setInterval(() => {}, 1000);
else if (mode === 'sleep') setTimeout(answer, Number(ms));
else if (mode === 'fail') { process.stderr.write('login expired\\nsecond line\\n'); answer(1); }
else if (mode === 'stdin') { process.stdin.resume(); process.stdin.on('end', () => answer()); }
else answer();
`;

let server: Server | undefined;
let dir: string | undefined;
const clients: Client[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  server?.closeAllConnections();
  server?.close();
  server = undefined;
  // Stop any plugin a failed test left behind.
  for (const pid of dir ? pids() : []) if (alive(pid)) process.kill(pid, 'SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/**
 * A loopback server that answers `{"ok":true}` and a client whose user runs the plugin in `mode`;
 * `server` replaces the server's URL in the kubeconfig, `exec` adds to the user's exec stanza.
 */
async function setup(
  mode: string,
  ms = 0,
  more: { server?: string; exec?: Record<string, unknown> } = {},
): Promise<{ client: Client; requests: IncomingMessage[] }> {
  const requests: IncomingMessage[] = [];
  server = createServer((req, res) => {
    requests.push(req);
    res.writeHead(200, { 'content-type': 'application/json' });
    if (req.url?.includes('watch=true')) res.write('{"ok":true}');
    else res.end('{"ok":true}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  dir = mkdtempSync(join(tmpdir(), 'kubereflect-credentials-'));
  writeFileSync(join(dir, 'plugin.mjs'), PLUGIN);
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: more.server ?? `http://127.0.0.1:${port}`, skipTLSVerify: more.server === undefined }],
    users: [
      {
        name: 'u',
        exec: {
          apiVersion: 'client.authentication.k8s.io/v1',
          command: process.execPath,
          args: [join(dir, 'plugin.mjs'), dir, mode, String(ms)],
          ...more.exec,
        },
      },
    ],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const client = new Client(kc);
  clients.push(client);
  return { client, requests };
}

/** The pids of the plugin's runs so far. */
function pids(): number[] {
  const f = join(dir!, 'runs');
  return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).map(Number) : [];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits until `pid` has exited, at most `ms`; true if it did. */
async function exited(pid: number, ms = 5_000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await delay(25)) if (!alive(pid)) return true;
  return false;
}

/** Waits until the plugin has started `n` runs. */
async function runsStarted(n: number): Promise<void> {
  for (const end = Date.now() + 5_000; Date.now() < end; await delay(10)) if (pids().length >= n) return;
  throw new Error(`the plugin did not start ${n} runs`);
}

/** `p`'s outcome, or 'still waiting' if it has none after `ms` (the old client waited for a hung plugin forever). */
async function settle(p: Promise<unknown>, ms = 5_000): Promise<unknown> {
  return Promise.race([
    p.then(
      (v) => v,
      (e: unknown) => e,
    ),
    delay(ms).then(() => 'still waiting'),
  ]);
}

describe('credentials from an exec plugin', () => {
  it("a hung plugin fails the request with RequestTimeoutError at the request's timeout, and is stopped", async () => {
    const { client, requests } = await setup('hang');
    // 1.5 s: time for the plugin to start (and write its pid) before it is stopped, even on a busy machine.
    const err = await settle(client.request({ path: '/api/v1/pods', timeoutMs: 1_500 }));
    expect(err).toBeInstanceOf(RequestTimeoutError);
    expect((err as Error).message).toBe('GET /api/v1/pods: no credentials from the exec plugin within 1500 ms');
    expect(requests).toHaveLength(0);
    expect(pids()).toHaveLength(1);
    expect(await exited(pids()[0]!)).toBe(true);
  });

  it("the request's signal aborts the wait with RequestAbortedError and stops the plugin", async () => {
    const { client } = await setup('hang');
    const ac = new AbortController();
    const pending = settle(client.request({ path: '/api/v1/pods', signal: ac.signal }));
    await runsStarted(1);
    ac.abort();
    const err = await pending;
    expect(err).toBeInstanceOf(RequestAbortedError);
    expect(await exited(pids()[0]!)).toBe(true);
  });

  it('a watch waits for credentials at most its idleTimeoutMs', async () => {
    const { client } = await setup('hang');
    const err = await settle(client.stream({ path: '/api/v1/pods', query: { watch: true }, idleTimeoutMs: 1_500 }));
    expect(err).toBeInstanceOf(RequestTimeoutError);
    expect((err as Error).message).toBe('GET /api/v1/pods?watch=true: no credentials from the exec plugin within 1500 ms');
    expect(await exited(pids()[0]!)).toBe(true);
  });

  it('a plugin that ignores SIGTERM is killed', async () => {
    const { client } = await setup('stubborn');
    const ac = new AbortController();
    const pending = settle(client.request({ path: '/x', signal: ac.signal }));
    await runsStarted(1); // its SIGTERM handler is in place
    ac.abort();
    expect(await pending).toBeInstanceOf(RequestAbortedError);
    expect(alive(pids()[0]!)).toBe(true);
    // SIGTERM at once, SIGKILL 2 s later.
    expect(await exited(pids()[0]!, 5_000)).toBe(true);
  });

  it('concurrent requests share one run of the plugin, and its credential is kept for later requests', async () => {
    const { client, requests } = await setup('sleep', 300);
    const results = await Promise.all(Array.from({ length: 5 }, () => client.request({ path: '/x' })));
    expect(results).toEqual(Array(5).fill({ ok: true }));
    await client.request({ path: '/x' });
    expect(pids()).toHaveLength(1);
    expect(requests.map((r) => r.headers.authorization)).toEqual(Array(6).fill(`Bearer ${TOKEN}-1`));
  });

  it('a request that gives up does not stop a run another request still waits for', async () => {
    const { client } = await setup('sleep', 600);
    const ac = new AbortController();
    const leaving = settle(client.request({ path: '/x', signal: ac.signal }));
    const staying = client.request({ path: '/x' });
    await runsStarted(1);
    ac.abort();
    expect(await leaving).toBeInstanceOf(RequestAbortedError);
    expect(await staying).toEqual({ ok: true });
    expect(pids()).toHaveLength(1);
  });

  it('after a stopped run, the next request runs the plugin again', async () => {
    const { client, requests } = await setup('hang-first');
    const ac = new AbortController();
    const pending = settle(client.request({ path: '/x', signal: ac.signal }));
    await runsStarted(1);
    ac.abort();
    expect(await pending).toBeInstanceOf(RequestAbortedError);
    expect(await exited(pids()[0]!)).toBe(true);
    expect(await client.request({ path: '/x' })).toEqual({ ok: true });
    expect(pids()).toHaveLength(2);
    expect(requests[0]!.headers.authorization).toBe(`Bearer ${TOKEN}-2`);
  });

  it("the request's timeout covers obtaining credentials and the response together", async () => {
    // Each step alone fits in 700 ms (the plugin answers after 400 ms, the server after 400 ms); both do not.
    const { client } = await setup('sleep', 400);
    server!.removeAllListeners('request');
    server!.on('request', (_req: IncomingMessage, res) => setTimeout(() => res.end('{"ok":true}'), 400));
    expect(await settle(client.request({ path: '/x', timeoutMs: 700 }))).toBeInstanceOf(RequestTimeoutError);
  });

  it('keeps the credential until its expirationTimestamp, then runs the plugin again', async () => {
    const { client, requests } = await setup('expiring', 1_000);
    await client.request({ path: '/x' });
    await client.request({ path: '/x' });
    expect(pids()).toHaveLength(1);
    await delay(1_200);
    await client.request({ path: '/x' });
    expect(pids()).toHaveLength(2);
    expect(requests.map((r) => r.headers.authorization)).toEqual([`Bearer ${TOKEN}-1`, `Bearer ${TOKEN}-1`, `Bearer ${TOKEN}-2`]);
  });

  it('refuses a plain-http server that is not loopback before the plugin runs', async () => {
    const { client } = await setup('answer', 0, { server: 'http://192.0.2.10:8001' });
    const err = await settle(client.request({ path: '/x' }));
    expect((err as Error).message).toContain('refusing to send credentials in clear text to http://192.0.2.10:8001');
    expect(pids()).toHaveLength(0);
  });

  it('gives the plugin the cluster in KUBERNETES_EXEC_INFO when it asks (provideClusterInfo)', async () => {
    const { client } = await setup('answer', 0, { exec: { provideClusterInfo: true } });
    await client.request({ path: '/x' });
    const info = JSON.parse(readFileSync(join(dir!, 'exec-info'), 'utf8'));
    expect(info.spec).toEqual({ interactive: false, cluster: { server: client.server, 'insecure-skip-tls-verify': true } });
  });

  it('runs the plugin with KUBERNETES_EXEC_INFO and no stdin to wait on', async () => {
    const { client } = await setup('stdin');
    expect(await settle(client.request({ path: '/x', timeoutMs: 3_000 }))).toEqual({ ok: true });
    expect(JSON.parse(readFileSync(join(dir!, 'exec-info'), 'utf8'))).toEqual({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      spec: { interactive: false },
    });
  });

  it('a plugin that fails is reported with its exit code and first stderr line, never its output', async () => {
    const { client } = await setup('fail');
    const err = await settle(client.request({ path: '/x' }));
    expect(err).toBeInstanceOf(KubeError);
    expect((err as Error).message).toMatch(
      /^could not obtain credentials for http:\/\/127\.0\.0\.1:\d+\/?: the credential plugin .* exited with code 1: login expired$/,
    );
    expect((err as Error).message).not.toContain('SECRET');
  });

  it('a 401 drops the credential it refused, not a fresher one obtained meanwhile', async () => {
    // /slow and /a go out with run 1's credential; /a is refused at once, /slow only after /c has fetched run 2's.
    const { client } = await setup('sleep', 100);
    server!.removeAllListeners('request');
    server!.on('request', (req: IncomingMessage, res) => {
      const refuse = () => {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"kind":"Status","code":401,"reason":"Unauthorized"}');
      };
      if (req.headers.authorization !== `Bearer ${TOKEN}-1`) res.end('{"ok":true}');
      else if (req.url === '/slow') setTimeout(refuse, 800);
      else refuse();
    });
    const slow = client.request({ path: '/slow' }).catch((e: unknown) => e);
    const a = await client.request({ path: '/a' }).catch((e: unknown) => e);
    expect(a).toBeInstanceOf(ApiError);
    expect((a as ApiError).statusCode).toBe(401);
    expect(await client.request({ path: '/c' })).toEqual({ ok: true });
    const late = await slow;
    expect((late as ApiError).statusCode).toBe(401);
    expect((late as Error).message).not.toContain('SECRET');
    expect(await client.request({ path: '/d' })).toEqual({ ok: true });
    expect(pids()).toHaveLength(2);
  });
});
