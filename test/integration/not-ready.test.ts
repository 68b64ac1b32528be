/**
 * A cache that cannot become ready says why, on the real apiserver: a kind
 * whose CRD is not installed (404), a user without RBAC for the kind (403,
 * the local plane's `viewer`), and a namespace that does not exist (an empty
 * list, which the server answers without a word). `waitUntilReady({
 * timeoutMs })` rejects with what the cache last failed with.
 */
import { describe, expect, inject, it } from 'vitest';
import { ConfigMap } from '../../generated/core/v1/configmap.ts';
import { Api, Client, type KubeObject, type Logger, NotReadyError } from '../../runtime/index.ts';
import { reflector, store, watcher } from '../../runtime/cache.ts';

const capture = (): Logger & { warnings: string[] } => {
  const warnings: string[] = [];
  return { warnings, debug: () => {}, info: () => {}, warn: (m) => void warnings.push(m), error: (m) => void warnings.push(m) };
};

describe('a cache that cannot become ready says why', () => {
  it('a kind the server does not serve: is its CRD installed?', async () => {
    const client = Client.fromFile(inject('kube').kubeconfig, { context: 'admin' });
    const api = new Api<KubeObject>(client, { group: 'missing.kubereflect.dev', version: 'v1', kind: 'Thing', plural: 'things', namespaced: true }, 'default');
    const { reader, writer } = store<KubeObject>({ name: 'things.missing.kubereflect.dev in default' });
    const stop = new AbortController();
    const running = (async () => {
      for await (const _ of reflector(writer, watcher(api, { signal: stop.signal, logger: capture() }))) {
        /* drive */
      }
    })();
    const err = await reader.waitUntilReady({ timeoutMs: 1500 }).catch((e: unknown) => e);
    stop.abort();
    await running;
    client.close();
    expect(err).toBeInstanceOf(NotReadyError);
    expect((err as NotReadyError).code).toBe('ERR_KUBE_NOT_READY');
    expect((err as Error).message).toMatch(/^kubereflect: things\.missing\.kubereflect\.dev in default not ready after 1500 ms; last error: .*404/);
    expect((err as Error).message).toContain(
      'the server does not serve missing.kubereflect.dev/v1 things: is the CustomResourceDefinition things.missing.kubereflect.dev installed?',
    );
    expect(reader.health().lastError?.message).toContain('is the CustomResourceDefinition things.missing.kubereflect.dev installed?');
  });

  it('a user without RBAC for the kind: which rule is missing', async () => {
    const client = Client.fromFile(inject('kube').kubeconfig, { context: 'viewer' });
    const logger = capture();
    const cache = ConfigMap.cache(ConfigMap.api(client, 'team-a'), { watcher: { logger } });
    const running = cache.run();
    const err = await cache.reader.waitUntilReady({ timeoutMs: 1500 }).catch((e: unknown) => e);
    cache.stop();
    await running;
    client.close();
    expect(err).toBeInstanceOf(NotReadyError);
    expect((err as Error).message).toMatch(/^kubereflect: configmaps in team-a not ready after 1500 ms; last error: .*403/);
    expect((err as Error).message).toContain('missing RBAC: grant list and watch on configmaps (apiGroups: [""]) in namespace team-a');
    expect(logger.warnings.some((w) => w.includes('missing RBAC'))).toBe(true);
  });

  it('a namespace that does not exist: ready with nothing, and a warning that says so', async () => {
    const client = Client.fromFile(inject('kube').kubeconfig, { context: 'admin' });
    const logger = capture();
    const cache = ConfigMap.cache(ConfigMap.api(client, 'no-such-namespace-here'), { watcher: { logger } });
    const running = cache.run();
    await cache.reader.waitUntilReady({ timeoutMs: 10_000 });
    for (let i = 0; i < 100 && logger.warnings.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    cache.stop();
    await running;
    client.close();
    expect(cache.reader.size).toBe(0);
    expect(logger.warnings).toEqual([
      'namespace no-such-namespace-here does not exist: the cache of configmaps in no-such-namespace-here stays empty until it is created',
    ]);
  });

  it('a namespace that exists and is empty: no warning', async () => {
    const client = Client.fromFile(inject('kube').kubeconfig, { context: 'admin' });
    const logger = capture();
    const cache = ConfigMap.cache(ConfigMap.api(client, 'team-a'), { watcher: { logger } });
    const running = cache.run();
    await cache.reader.waitUntilReady({ timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 500));
    cache.stop();
    await running;
    client.close();
    expect(logger.warnings).toEqual([]);
  });
});
