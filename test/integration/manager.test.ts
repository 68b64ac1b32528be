/**
 * The Manager on the real apiserver: shared caches (one watch connection
 * per kind, counted at the client's transport), readiness over real HTTP before and
 * after sync, with a missing CRD and with a watch stalled by the fault
 * proxy, the RBAC preflight with the local plane's restricted `viewer`
 * (the missing rules printed, applied, and then it starts), and a CRD
 * removed and re-added under a running manager.
 */
import { randomBytes } from 'node:crypto';
import * as prom from 'prom-client';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ConfigMap } from '../../generated/core/v1/configmap.ts';
import { Secret } from '../../generated/core/v1/secret.ts';
import {
  Action,
  Api,
  allNamespaces,
  applyManifests,
  Client,
  type KubeObject,
  type Logger,
  Manager,
  ownerReference,
  permissions,
  RbacError,
  type Stored,
} from '../../runtime/index.ts';
import { checkPermissions } from '../../runtime/manager/rbac.ts';
import { waitFor } from '../../testing/index.ts';
import { FaultProxy } from '../../testing/proxy.ts';
import { plane } from '../faults/harness.ts';
import { testCrd } from '../support/crd.ts';
import { testNamespace } from '../support/kube.ts';

const kubeconfig = inject('kube').kubeconfig;
const admin = Client.fromFile(kubeconfig, { context: 'admin' });
const clients: Client[] = [admin];
afterAll(() => {
  for (const c of clients) c.close();
});

const quiet = (): Logger & { lines: string[] } => {
  const lines: string[] = [];
  const keep = (m: string) => void lines.push(m);
  return { lines, debug: () => {}, info: keep, warn: keep, error: keep };
};

/**
 * A client whose watch connections are counted by path, at its transport
 * (every watch goes through `stream`): the most open at once per path. A
 * watch that ends and is opened again (its timeout, a passing error) is
 * still one connection at a time.
 */
function countingClient(): { client: Client; watches: Map<string, number> } {
  const client = Client.fromFile(kubeconfig, { context: 'admin' });
  clients.push(client);
  const open = new Map<string, number>();
  const watches = new Map<string, number>();
  const stream = client.stream.bind(client);
  client.stream = async (req) => {
    const body = await stream(req);
    if (!req.query?.watch) return body;
    const path = req.path;
    open.set(path, (open.get(path) ?? 0) + 1);
    watches.set(path, Math.max(watches.get(path) ?? 0, open.get(path)!));
    return (async function* () {
      try {
        yield* body;
      } finally {
        open.set(path, open.get(path)! - 1);
      }
    })();
  };
  return { client, watches };
}

/** Polls `check` (as the test kit's `waitFor`, every 50 ms). */
const until = <T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, ms = 30_000) =>
  waitFor(what, check, { timeoutMs: ms, intervalMs: 50 });

const get = async (url: string) => {
  const res = await fetch(url);
  return { status: res.status, text: await res.text() };
};

/** A Gadget kind in a group of its own, so that tests removing it disturb nobody. */
const gadgetCrd = (group: string) => testCrd(group, 'Gadget', 'gadgets');
const crds = { group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition', plural: 'customresourcedefinitions', namespaced: false };

describe('Manager', () => {
  it('shares one watch per kind between two controllers that own ConfigMaps and a cache read by hand', async () => {
    const ns = await testNamespace('mgr-share');
    const { client, watches } = countingClient();
    const manager = new Manager(client, { name: 'share', logger: quiet(), rbac: 'off' });
    const seen = { secrets: new Set<string>(), configMaps: new Set<string>() };
    // Two controllers, different primaries, both owning ConfigMaps; a third reader of ConfigMaps, whole.
    manager
      .controller(Secret.api(client, ns), {
        name: 'secrets',
        reconcile: async (s: Stored<Secret>) => {
          seen.secrets.add(s.metadata.name);
          await ConfigMap.api(client, ns).patch(
            `${s.metadata.name}-from-secret`,
            {
              type: 'apply',
              body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `${s.metadata.name}-from-secret`, ownerReferences: [ownerReference(Secret, s)] } },
              force: true,
            },
            { fieldManager: 'mgr-test' },
          );
          return Action.awaitChange();
        },
      })
      .owns(ConfigMap.api(client, ns));
    manager
      .controller(ConfigMap.api(client, ns), {
        name: 'configmaps',
        reconcile: (cm) => {
          seen.configMaps.add(cm.metadata.name);
          return Action.awaitChange();
        },
      })
      .owns(ConfigMap.api(client, ns));
    const byHand = manager.cache(ConfigMap.api(client, ns));
    await Secret.api(admin, ns).create({ metadata: { name: 's1' }, stringData: { k: 'v' } });
    await manager.start();
    await until('both controllers to reconcile', () => seen.secrets.has('s1') && seen.configMaps.has('s1-from-secret'));
    await until('the hand-read cache to hold the child', () => byHand.get({ name: 's1-from-secret', namespace: ns }));
    const caches = manager.cacheInfo().map((c) => `${c.name}: ${c.users.join(', ')}`);
    expect(caches).toEqual([`configmaps in ${ns}: cache(), configmaps (primary), secrets (owns), configmaps (owns)`, `secrets in ${ns}: secrets (primary)`]);
    expect(Object.fromEntries(watches)).toEqual({ [`/api/v1/namespaces/${ns}/configmaps`]: 1, [`/api/v1/namespaces/${ns}/secrets`]: 1 });
    const report = await manager.stop();
    expect(report).toEqual({ finished: 0, abandoned: 0, exitCode: 0, error: undefined });
  });

  it('answers /healthz and /readyz over HTTP: not ready while a CRD is missing (named), ready once every cache synced', async () => {
    const ns = await testNamespace('mgr-ready');
    const group = `mgr-${randomBytes(3).toString('hex')}.test.kubereflect.dev`;
    const gadgets = new Api<KubeObject>(admin, { group, version: 'v1', kind: 'Gadget', plural: 'gadgets', namespaced: true }, ns);
    const registry = new prom.Registry();
    const manager = new Manager(admin, { name: 'ready', logger: quiet(), endpoints: { port: 0, host: '127.0.0.1' }, metrics: { prom, registry } });
    const reconciled = new Set<string>();
    manager.controller(ConfigMap.api(admin, ns), { name: 'cms', reconcile: (cm) => (reconciled.add(cm.metadata.name), Action.awaitChange()) });
    manager.controller(gadgets, { name: 'gadgets', reconcile: (g) => (reconciled.add(`gadget/${g.metadata.name}`), Action.awaitChange()) });
    await ConfigMap.api(admin, ns).create({ metadata: { name: 'one' } });
    await manager.start(); // does not wait for the kind that is not served
    const url = manager.url!;
    await until('the ConfigMap controller to run while Gadgets are not served', () => reconciled.has('one'));
    const before = await get(`${url}/readyz`);
    console.log(`GET /readyz → ${before.status}\n${before.text}`);
    expect(before.status).toBe(503);
    expect(before.text).toContain('not ready: 1 of 2 caches is not synced');
    expect(before.text).toContain(`cache configmaps in ${ns}: synced: 1 objects [cms (primary)]`);
    expect(before.text).toMatch(
      new RegExp(
        `cache gadgets\\.${group.replaceAll('.', '\\.')} in ${ns}: not served.*is the CustomResourceDefinition gadgets\\.${group.replaceAll('.', '\\.')} installed\\?`,
      ),
    );
    expect(before.text).toContain('role: single');
    expect((await get(`${url}/healthz`)).status).toBe(200);

    await applyManifests(admin, [gadgetCrd(group)], { fieldManager: 'mgr-test' });
    try {
      await until('Gadgets to be served', () =>
        gadgets.list().then(
          () => true,
          () => undefined,
        ),
      );
      await gadgets.create({ apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name: 'g1' } });
      await until('the Gadget controller to reconcile once its CRD exists', () => reconciled.has('gadget/g1'), 60_000);
      const after = await until('ready', async () => {
        const r = await get(`${url}/readyz`);
        return r.status === 200 ? r : undefined;
      });
      expect(after.text).toMatch(/^ok: ready running, 2 caches synced\nrole: single/);
      const metrics = await get(`${url}/metrics`);
      expect(metrics.text).toMatch(new RegExp(`^kubereflect_cache_synced\\{cache="gadgets\\.${group.replaceAll('.', '\\.')} in ${ns}"\\} 1$`, 'm'));
      expect(metrics.text).toMatch(/^kubereflect_cache_objects\{cache="configmaps in [^"]+"\} 1$/m);
    } finally {
      await manager.stop();
      await new Api(admin, crds).delete(`gadgets.${group}`).catch(() => {});
    }
    expect(await fetch(`${url}/healthz`).catch((e: Error) => e.message)).toMatch(/fetch failed/); // the endpoints closed with the manager
  }, 120_000);

  it('turns /readyz 503 naming the cache whose watch is stalled (fault proxy), and 200 again once it recovers', async () => {
    const ns = await testNamespace('mgr-stall');
    const p = plane();
    const proxy = await FaultProxy.start({ upstreamPort: p.apiserverPort, pkiDir: p.pkiDir });
    const client = Client.fromFile(proxy.kubeconfig(kubeconfig), { context: 'admin' });
    clients.push(client);
    const manager = new Manager(client, { name: 'stall', logger: quiet(), endpoints: { port: 0, host: '127.0.0.1' }, staleAfterMs: 1500, rbac: 'off' });
    const watcher = { idleTimeoutMs: 1000, timeoutSeconds: 5, backoff: () => ({ next: () => 200, reset: () => {} }) };
    manager.controller(ConfigMap.api(client, ns), { name: 'cms', watcher, reconcile: () => Action.awaitChange() });
    manager.cache(Secret.api(client, ns));
    try {
      await manager.start();
      expect((await get(`${manager.url}/readyz`)).status).toBe(200);
      // Every configmaps request from now on: the head arrives, then nothing.
      proxy.rule = (req) => (req.path.endsWith('/configmaps') ? { type: 'stall' } : undefined);
      // The open ConfigMap watch ends within its 5 s timeout; what the watcher asks for next stalls (the Secret watch goes on).
      const stalled = await until('readyz to say the ConfigMap cache is stale', async () => {
        const r = await get(`${manager.url}/readyz`);
        return r.status === 503 ? r : undefined;
      });
      expect(stalled.text).toContain('not ready: 1 of 2 caches is not synced');
      expect(stalled.text).toMatch(new RegExp(`cache configmaps in ${ns}: stale \\(failing for \\d+ s\\)`));
      expect(stalled.text).toContain(`cache secrets in ${ns}: synced`);
      proxy.rule = () => undefined;
      await until('readyz to recover', async () => ((await get(`${manager.url}/readyz`)).status === 200 ? true : undefined));
    } finally {
      await manager.stop();
      await proxy.close();
    }
  }, 120_000);

  it('fails start-up with the viewer: names each missing permission and the rules; applied, they make it start', async () => {
    const ns = await testNamespace('mgr-rbac');
    const viewer = Client.fromFile(kubeconfig, { context: 'viewer' });
    clients.push(viewer);
    const make = () => {
      const manager = new Manager(viewer, { name: `rbac-${ns}`, logger: quiet() });
      manager
        .controller(ConfigMap.api(viewer, ns), {
          name: 'cms',
          reconcile: () => Action.awaitChange(),
          permissions: permissions(ConfigMap.api(viewer, ns), 'patch'),
        })
        .owns(Secret.api(viewer, ns));
      return manager;
    };
    const first = make();
    const err = await first.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RbacError);
    const message = (err as RbacError).message;
    for (const line of [
      `cannot list configmaps (apiGroups: [""]) in namespace ${ns}`,
      `cannot watch configmaps (apiGroups: [""]) in namespace ${ns}`,
      `cannot patch configmaps (apiGroups: [""]) in namespace ${ns}`,
      `cannot list secrets (apiGroups: [""]) in namespace ${ns}`,
      `cannot watch secrets (apiGroups: [""]) in namespace ${ns}`,
    ])
      expect(message).toContain(line);
    expect((err as RbacError).missing).toHaveLength(5);
    expect(first.status().state).toBe('failed');
    // What the manager prints is what the error says to apply; bound to the viewer, it makes start-up pass.
    const manifest = make().rbac({ subject: { kind: 'User', name: 'viewer' } });
    const objects = parseAllDocuments(manifest).map((d) => d.toJS() as KubeObject);
    expect(objects.map((o) => `${o.kind} ${o.metadata?.namespace ?? ''}`)).toEqual([`Role ${ns}`, `RoleBinding ${ns}`]);
    await applyManifests(admin, objects, { fieldManager: 'mgr-test' });
    const second = make();
    await until('the granted rules to take effect', async () => ((await checkPermissions(viewer, second.permissions())).length === 0 ? true : undefined));
    await second.start();
    expect(second.status().caches.every((c) => c.health.ready)).toBe(true);
    await second.stop();
  }, 60_000);

  it('a part that fails for good stops the whole manager with its error: start() rejects, done rejects, /healthz says failed', async () => {
    const ns = await testNamespace('mgr-fatal');
    await ConfigMap.api(admin, ns).create({ metadata: { name: 'one' } });
    const manager = new Manager(admin, { name: 'fatal', logger: quiet(), rbac: 'off' });
    manager.cache(ConfigMap.api(admin, ns), {
      transform: () => {
        throw new Error('a transform that throws');
      },
    });
    manager.controller(Secret.api(admin, ns), { reconcile: () => Action.awaitChange() });
    const err = await manager.start().catch((e: unknown) => e);
    expect((err as Error).message).toMatch(
      /^kubereflect: manager fatal: the cache of configmaps in mgr-fatal-\w+ \(projected\) failed for good: .*a transform that throws/,
    );
    await expect(manager.done).rejects.toBe(err);
    expect(manager.status()).toMatchObject({ state: 'failed', ready: false });
    expect((await manager.stop()).exitCode).toBe(1);
  });

  it('a CRD removed and re-added under a running manager: its cache empties and says so, the others go on, and it starts again', async () => {
    const ns = await testNamespace('mgr-crd');
    const group = `mgr-${randomBytes(3).toString('hex')}.test.kubereflect.dev`;
    const gadgets = new Api<KubeObject>(admin, { group, version: 'v1', kind: 'Gadget', plural: 'gadgets', namespaced: true }, ns);
    await applyManifests(admin, [gadgetCrd(group), { apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name: 'g1', namespace: ns } } as KubeObject], {
      fieldManager: 'mgr-test',
    });
    const logger = quiet();
    const manager = new Manager(admin, { name: 'crd', logger, endpoints: { port: 0, host: '127.0.0.1' } });
    const reconciled: string[] = [];
    const store = manager.cache(gadgets, { watcher: { backoff: () => ({ next: () => 300, reset: () => {} }) } });
    manager.controller(gadgets, { name: 'gadgets', reconcile: (g) => (reconciled.push(`gadget/${g.metadata.name}`), Action.awaitChange()) });
    manager.controller(ConfigMap.api(admin, allNamespaces), {
      name: 'cms',
      watcher: { labelSelector: `test=${ns}` },
      reconcile: (cm) => (reconciled.push(cm.metadata.name), Action.awaitChange()),
    });
    try {
      await manager.start();
      await until('g1 reconciled', () => reconciled.includes('gadget/g1'));
      await new Api(admin, crds).delete(`gadgets.${group}`);
      await until('the Gadget cache to empty', () => store.size === 0, 60_000);
      const gone = await until(
        'readyz to name the Gadget cache as not served',
        async () => {
          const r = await get(`${manager.url}/readyz`);
          return r.status === 503 && r.text.includes('not served') ? r : undefined;
        },
        60_000,
      );
      expect(gone.text).toMatch(new RegExp(`cache gadgets\\.${group.replaceAll('.', '\\.')} in ${ns}: not served`));
      // The other controller goes on.
      await ConfigMap.api(admin, ns).create({ metadata: { name: 'while-gone', labels: { test: ns } } });
      await until('the ConfigMap controller to go on', () => reconciled.includes('while-gone'));
      expect(manager.status().state).toBe('running');
      // Back again, with a new object.
      await applyManifests(admin, [gadgetCrd(group), { apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name: 'g2', namespace: ns } } as KubeObject], {
        fieldManager: 'mgr-test',
      });
      await until('g2 reconciled after the CRD came back', () => reconciled.includes('gadget/g2'), 60_000);
      await until('readyz 200 again', async () => ((await get(`${manager.url}/readyz`)).status === 200 ? true : undefined), 30_000);
      expect(store.get({ name: 'g2', namespace: ns })).toBeDefined();
    } finally {
      await manager.stop();
      await new Api(admin, crds).delete(`gadgets.${group}`).catch(() => {});
    }
  }, 180_000);
});
