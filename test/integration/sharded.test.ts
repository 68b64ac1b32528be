/**
 * Server-side sharded lists (KEP-5866, alpha since 1.36 behind the
 * `ShardedListAndWatch` feature gate), pinned against the real server before
 * anything builds on them: the request parameter is `shardSelector`
 * (`shardRange(object.metadata.uid, '0x…', '0x…')`), the answer echoes it in
 * `metadata.shardInfo.selector`, membership is the 64-bit FNV-1a hash of the
 * field's bytes in [start, end), and a server with the gate off ignores the
 * parameter and sends everything without an echo. Before 1.36 (the
 * compatibility run) the gate is unknown and kube-apiserver refuses it.
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Api, type ListWatch } from '../../runtime/client/api.ts';
import type { ConfigMap } from '../../generated/core/v1/configmap.ts';
import { Client } from '../../runtime/client/client.ts';
import type { KubeObject, ObjectList, ResourceDescriptor } from '../../runtime/core/types.ts';
import { currentState, startExtraApiserver, type ExtraApiserver } from '../controlplane/plane.ts';
import { testNamespace } from '../support/kube.ts';

const configMaps: ResourceDescriptor = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };
const HALF = '0x8000000000000000';
const lower = `shardRange(object.metadata.uid, '0x0000000000000000', '${HALF}')`;
const upper = `shardRange(object.metadata.uid, '${HALF}', '0x10000000000000000')`;

/** 64-bit FNV-1a of the UTF-8 bytes of `text`. */
function fnv1a64(text: string): bigint {
  let hash = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text, 'utf8')) hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return hash;
}

type ShardedList = ObjectList<KubeObject> & { metadata: { shardInfo?: { selector: string } } };

const list = (client: Client, ns: string, shardSelector?: string) =>
  client.request<ShardedList>({ path: `/api/v1/namespaces/${ns}/configmaps`, query: { shardSelector } });

describe('server-side sharded lists (ShardedListAndWatch)', () => {
  let extra: ExtraApiserver | undefined;
  const clients: Client[] = [];
  afterAll(async () => {
    for (const c of clients) c.close();
    await extra?.stop();
  });

  it('with the gate on (1.36+): two half ranges split the objects by the FNV-1a hash of their uid, each echoed in shardInfo', async () => {
    const env = inject('kube');
    const state = currentState();
    expect(env.local && state, 'needs the local control plane').toBeTruthy();
    const minor = Number(/^v1\.(\d+)\./.exec(env.serverVersion ?? '')?.[1]);
    if (minor < 36) {
      // Before 1.36 the gate does not exist: kube-apiserver refuses to start with it.
      await expect(startExtraApiserver(state!, 'sharded', ['--feature-gates=ShardedListAndWatch=true'])).rejects.toThrow(/ShardedListAndWatch/);
      return;
    }
    extra = await startExtraApiserver(state!, 'sharded', ['--feature-gates=ShardedListAndWatch=true']);
    const ns = await testNamespace('sharded');
    const admin = Client.fromFile(env.kubeconfig, { context: 'admin' });
    const sharded = Client.fromFile(extra.kubeconfig, { context: 'admin' });
    clients.push(admin, sharded);
    const api = new Api<KubeObject>(admin, configMaps, ns);
    for (let i = 0; i < 24; i++) await api.create({ metadata: { name: `cm-${i}` } });

    const all = await list(sharded, ns);
    expect(all.items).toHaveLength(24);
    expect(all.metadata.shardInfo).toBeUndefined();
    const [a, b] = [await list(sharded, ns, lower), await list(sharded, ns, upper)];
    expect(a.metadata.shardInfo).toEqual({ selector: lower });
    expect(b.metadata.shardInfo).toEqual({ selector: upper });
    const names = (l: ShardedList) => l.items.map((o) => o.metadata!.name!).sort();
    expect([...names(a), ...names(b)].sort()).toEqual(names(all));
    expect(a.items.length).toBeGreaterThan(0);
    expect(b.items.length).toBeGreaterThan(0);
    for (const o of a.items) expect(fnv1a64(o.metadata!.uid!) < BigInt(HALF), o.metadata!.uid).toBe(true);
    for (const o of b.items) expect(fnv1a64(o.metadata!.uid!) >= BigInt(HALF), o.metadata!.uid).toBe(true);
  });

  it('with the gate off (the default): the parameter is ignored, everything comes back, nothing is echoed', async () => {
    const env = inject('kube');
    const ns = await testNamespace('unsharded');
    const admin = Client.fromFile(env.kubeconfig, { context: 'admin' });
    clients.push(admin);
    const api = new Api<KubeObject>(admin, configMaps, ns);
    for (let i = 0; i < 6; i++) await api.create({ metadata: { name: `cm-${i}` } });
    const got = await list(admin, ns, lower);
    expect(got.items).toHaveLength(6);
    expect(got.metadata.shardInfo).toBeUndefined();
  });

  it("a kind's cache with shard: the sharding server (1.36+) sends only the range (watch included), the default server sends all and the cache filters; every store holds exactly the range", async () => {
    const env = inject('kube');
    const { ConfigMap } = await import('../../generated/core/v1/configmap.ts');
    const { ShardRange } = await import('../../runtime/scale/shard-range.ts');
    const ns = await testNamespace('sharded-cache');
    const admin = Client.fromFile(env.kubeconfig, { context: 'admin' });
    // Before 1.36 there is no sharding server (the first test pinned that the gate is refused): the default server must still accept the parameter.
    const sharded = extra ? Client.fromFile(extra.kubeconfig, { context: 'admin' }) : undefined;
    clients.push(admin, ...(sharded ? [sharded] : []));
    const api = new Api<KubeObject>(admin, configMaps, ns);
    for (let i = 0; i < 30; i++) await api.create({ metadata: { name: `before-${i}` } });
    const range = ShardRange.of(0, 2);
    const results = [];
    for (const client of sharded ? [sharded, admin] : [admin]) {
      const received = { objects: 0 };
      const base = ConfigMap.api(client, ns);
      // Counts the objects that reach the client: list items and watch events.
      const counting = {
        resource: base.resource,
        namespace: base.namespace,
        list: async (o: Parameters<typeof base.list>[0]) => {
          const page = await base.list(o);
          received.objects += page.items.length;
          return page;
        },
        watch: (o: Parameters<typeof base.watch>[0]) => {
          const it = base.watch(o);
          return (async function* () {
            for await (const e of it) {
              if (e.type !== 'BOOKMARK') received.objects++;
              yield e;
            }
          })();
        },
      };
      const cache = ConfigMap.cache(counting as ListWatch<ConfigMap>, { shard: range, transform: ConfigMap.keep({}) });
      void cache.run();
      await cache.reader.waitUntilReady();
      results.push({ cache, received });
    }
    for (let i = 0; i < 30; i++) await api.create({ metadata: { name: `after-${i}` } });
    const all = (await api.list()).items.map((o) => o.metadata!.uid!);
    const inRange = all.filter((u) => range.has(u)).sort();
    expect(inRange.length).toBeGreaterThan(10);
    expect(inRange.length).toBeLessThan(50);
    for (const { cache } of results) {
      const deadline = Date.now() + 20_000;
      while (cache.reader.size < inRange.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(
        cache.reader
          .state()
          .map((o) => o.metadata.uid)
          .sort(),
      ).toEqual(inRange);
      cache.stop();
    }
    const received = results.map((r) => r.received.objects);
    const onDefault = received.at(-1);
    console.log(`objects received for a half range of 60: ${sharded ? `${received[0]} from the sharding server, ` : ''}${onDefault} from the default one`);
    if (sharded) expect(received[0]).toBe(inRange.length); // only the range, list and watch
    expect(onDefault).toBe(all.length); // everything: the filter is the client's
  });
});
