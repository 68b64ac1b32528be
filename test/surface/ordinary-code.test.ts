/**
 * Types that ordinary operator code meets, checked by the compiler (the
 * `@ts-expect-error` lines must fail to compile; `npm test` runs tsc over
 * this file) and run where they can be: a reconcile's object of a namespaced
 * kind has a `string` namespace, a cluster-scoped one has none; a helper
 * that takes any store takes a pruned or kept one too.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { ConfigMap } from '../../generated/core/v1/configmap.ts';
import { Node } from '../../generated/core/v1/node.ts';
import type { Pod } from '../../generated/core/v1/pod.ts';
import { KubeConfig } from '@kubernetes/client-node';
import { Action, type Api, Client, Controller, Finalizer, allNamespaces, type KubeObject, type Store, type Stored } from '../../runtime/index.ts';
import { store } from '../../runtime/cache.ts';

const client = (): Client => Client.fromKubeConfig(undefined as never);

describe('ordinary code compiles as written', () => {
  it("a namespaced kind's reconcile, finalizer handlers and reads have metadata.namespace: string", () => {
    const types = () => {
      const configMaps = ConfigMap.api(client(), 'shop');
      const ctl = new Controller(configMaps);
      const finalizer = new Finalizer(configMaps, 'example.com/cleanup');
      void ctl.run((cm) => {
        expectTypeOf(cm.metadata.namespace).toEqualTypeOf<string>();
        return finalizer.run(cm, {
          apply: (c) => (expectTypeOf(c.metadata.namespace).toEqualTypeOf<string>(), Action.awaitChange()),
          cleanup: () => Action.awaitChange(),
        });
      });
      void new Controller(ConfigMap.api(client(), allNamespaces)).run(
        (cm) => (expectTypeOf(cm.metadata.namespace).toEqualTypeOf<string>(), Action.awaitChange()),
      );
      void configMaps.get('x').then((cm) => expectTypeOf(cm.metadata?.namespace).toEqualTypeOf<string>());
      // Writes may leave the namespace out: the Api's is used.
      void configMaps.create({ metadata: { name: 'x' } });
      void new Controller(Node.api(client())).run((node) => {
        // @ts-expect-error a cluster-scoped kind's objects have no namespace to rely on
        const ns: string = node.metadata.namespace;
        void ns;
        return Action.awaitChange();
      });
      // A function written for the plain kind still takes them.
      const plain = (cm: Stored<ConfigMap>) => cm.metadata.name;
      void ctl.run((cm) => (plain(cm), Action.awaitChange()));
    };
    expect(typeof types).toBe('function');
  });

  it('a helper over any store takes a whole, a kept and a pruned one', () => {
    const count = (s: Store<KubeObject>) => s.size;
    const names = <T extends KubeObject>(s: Store<T>) => s.state().map((o) => o.metadata.name);
    const whole = store<Pod>();
    const kept = store<ReturnType<ReturnType<typeof Pod.keep<{ spec: { nodeName: true } }>>>>();
    const pruned = store<ReturnType<ReturnType<typeof Pod.prune<{ status: true }>>>>();
    whole.writer.applyEvent({ type: 'Apply', object: { metadata: { name: 'a', namespace: 'n', uid: 'u1', resourceVersion: '1' } } });
    expect([count(whole.reader), count(kept.reader), count(pruned.reader)]).toEqual([1, 0, 0]);
    expect(names(whole.reader)).toEqual(['a']);
    expectTypeOf(names(kept.reader)).toEqualTypeOf<string[]>();
    // @ts-expect-error a store of kept pods is not a store of whole pods: it lacks fields the type promises
    ((s: Store<Pod>) => s)(kept.reader);
  });

  it('an Api of all namespaces lists and watches; a call on one object by name alone does not compile, nor run', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const everywhere = ConfigMap.api(Client.fromKubeConfig(kc), allNamespaces);
    const types = () => {
      void everywhere.list();
      void everywhere.watch();
      void everywhere.patch('x', { type: 'merge', body: {} }, { namespace: 'shop' });
      void everywhere.delete('x', { namespace: 'shop' });
      void everywhere.within('shop').get('x');
      // @ts-expect-error get() by name needs a namespace: within(namespace).get(name)
      void everywhere.get('x');
      // @ts-expect-error patch() across all namespaces needs { namespace }
      void everywhere.patch('x', { type: 'merge', body: {} });
      // @ts-expect-error replace() needs a namespace too
      void everywhere.replace('x', { metadata: { name: 'x' } });
    };
    expect(typeof types).toBe('function');
    // From JavaScript (or through a cast), the call fails before any request, saying what to do.
    await expect((everywhere as unknown as Api<ConfigMap>).get('x')).rejects.toThrow(
      'ConfigMap "x": this Api is for all namespaces, and a call on one ConfigMap needs its namespace: use api.within(namespace), or pass { namespace } to patch and delete',
    );
  });
});
