/**
 * Kubeconfigs as users write them for a plain-http endpoint such as
 * `kubectl proxy`: a cluster with only `server: http://127.0.0.1:PORT`, no
 * user, no `insecure-skip-tls-verify`. The proxy is a node:http server in this
 * test, on loopback, forwarding every request to the real apiserver over TLS
 * with the admin credentials (as `kubectl proxy` does with its own). Also:
 * https kubeconfigs are still verified against their CA, with or without a user.
 */
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reflector } from '../../runtime/cache/reflector.ts';
import { store } from '../../runtime/cache/store.ts';
import { watcher } from '../../runtime/cache/watcher.ts';
import { Api } from '../../runtime/client/api.ts';
import { Client } from '../../runtime/client/client.ts';
import { TransportError } from '../../runtime/core/errors.ts';
import type { KubeObject, ResourceDescriptor, WatchEvent } from '../../runtime/core/types.ts';
import { kubeConfig, testNamespace } from '../support/kube.ts';

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}
const configmaps: ResourceDescriptor = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };

const admin = kubeConfig('admin');
const upstream = new URL(admin.getCurrentCluster()!.server);
const upstreamCa = admin.getCurrentCluster()!.caData ?? readFileSync(admin.getCurrentCluster()!.caFile!).toString('base64');
const dir = mkdtempSync(join(tmpdir(), 'kubereflect-client-http-'));
const direct = Client.fromKubeConfig(admin);
let proxy: Server;
let proxied: string[] = [];

/** A kubeconfig file naming only `cluster` (and `user`, when given), as a user would write it. */
function writeKubeconfig(name: string, cluster: Record<string, unknown>, user?: Record<string, unknown>): string {
  const file = join(dir, name);
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster }],
    users: user ? [{ name: 'u', user }] : [],
    contexts: [{ name: 'x', context: { cluster: 'c', ...(user ? { user: 'u' } : {}) } }],
    'current-context': 'x',
  };
  writeFileSync(file, JSON.stringify(config), { mode: 0o600 }); // JSON is YAML
  return file;
}

beforeAll(async () => {
  // What `kubectl proxy` does: plain http in, TLS with its own credentials out, bodies streamed both ways (watches too).
  const tls: RequestOptions = {};
  await admin.applyToHTTPSOptions(tls);
  proxy = createServer((req, res) => {
    proxied.push(`${req.method} ${req.url}`);
    const headers: IncomingHttpHeaders = { ...req.headers, ...(tls.headers as IncomingHttpHeaders), host: upstream.host };
    delete headers.connection;
    const out = httpsRequest(new URL(req.url!, upstream), { method: req.method, headers, ca: tls.ca, agent: tls.agent }, (up) => {
      res.writeHead(up.statusCode!, up.headers);
      up.pipe(res);
    });
    out.on('error', () => res.destroy());
    res.on('close', () => out.destroy());
    req.pipe(out);
  });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
});

afterAll(() => {
  direct.close();
  proxy?.closeAllConnections();
  proxy?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a plain-http kubeconfig (kubectl proxy)', () => {
  it('lists, watches and syncs a cache through the proxy with only `server: http://127.0.0.1:PORT`', async () => {
    const ns = await testNamespace('http');
    const file = writeKubeconfig('proxy.yaml', { server: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` });
    const client = Client.fromFile(file);
    proxied = [];
    const writer = new Api<ConfigMap>(direct, configmaps, ns);
    const api = new Api<ConfigMap>(client, configmaps, ns);
    await writer.create({ metadata: { name: 'before' }, data: { a: '1' } });

    const list = await api.list();
    expect(list.items.map((c) => c.metadata?.name)).toEqual(['before']);

    const ac = new AbortController();
    const events: WatchEvent<ConfigMap>[] = [];
    const watching = (async () => {
      for await (const e of api.watch({ resourceVersion: list.metadata.resourceVersion, signal: ac.signal })) {
        events.push(e);
        if (e.type === 'ADDED') return;
      }
    })();
    const { reader, writer: storeWriter } = store<ConfigMap>();
    const caching = (async () => {
      for await (const _ of reflector(storeWriter, watcher(api, { signal: ac.signal }))) {
        /* the store is what we read */
      }
    })();
    await reader.waitUntilReady();
    await writer.create({ metadata: { name: 'after' }, data: { a: '2' } });
    await watching;
    expect(events.filter((e) => e.type === 'ADDED').map((e) => (e.object as ConfigMap).metadata?.name)).toEqual(['after']);
    for (let i = 0; i < 100 && !reader.get(`${ns}/after`); i++) await new Promise((r) => setTimeout(r, 50));
    expect(
      reader
        .state()
        .map((c) => c.metadata.name)
        .sort(),
    ).toEqual(['after', 'before']);
    ac.abort();
    await caching;
    client.close();

    // Everything went through the proxy: the lists and the watches.
    expect(proxied.some((r) => r.startsWith(`GET /api/v1/namespaces/${ns}/configmaps?`) && !r.includes('watch=true'))).toBe(true);
    expect(proxied.filter((r) => r.includes('watch=true')).length).toBeGreaterThanOrEqual(2);
  });
});

describe('https kubeconfigs are still verified', () => {
  it('without the CA, the server certificate is refused (TLS verification stays on)', async () => {
    const client = Client.fromFile(writeKubeconfig('no-ca.yaml', { server: upstream.href }));
    const err = await client.request({ path: '/version' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toMatch(/GET \/version: (SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|DEPTH_ZERO_SELF_SIGNED_CERT)/);
    client.close();
  });

  it('a kubeconfig without a user verifies the server against the cluster CA', async () => {
    // Anonymous requests may read /version (system:public-info-viewer).
    const client = Client.fromFile(writeKubeconfig('anonymous.yaml', { server: upstream.href, 'certificate-authority-data': upstreamCa }));
    const version = await client.request<{ gitVersion: string }>({ path: '/version' });
    expect(version.gitVersion).toMatch(/^v1\./);
    client.close();
  });
});
