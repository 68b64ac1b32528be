/**
 * A shared store fed by hand, for unit tests of what reads one (the
 * controller, its metrics): it lists ConfigMaps of the given names in
 * namespace `ns`, then applies whatever `push` is handed, until `end()` —
 * or until `stop` aborts. A fake by design: these tests are about event
 * sequences, not a server.
 */
import { reflectShared, storeShared } from '../../runtime/cache/shared-store.ts';
import type { ListWatch } from '../../runtime/client/api.ts';
import type { KubeObject, WatcherEvent } from '../../runtime/core/types.ts';

/** A ConfigMap `name` in namespace `ns` at resourceVersion `rv`. */
export const configMap = (name: string, rv = '1'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'ns', uid: `uid-${name}`, resourceVersion: rv },
});

/** The primary Api of a controller handed a store: never called, only its resource is read. */
export const configMapsOnly = {
  resource: { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true },
} as unknown as ListWatch<KubeObject>;

/** A shared store listing `names`, then fed by `push`, until `end()` or `opts.stop`; `driving` settles once it has stopped. */
export function fedStore(names: string[], opts: { stop?: AbortSignal } = {}) {
  const shared = storeShared<KubeObject>();
  const queue: WatcherEvent<KubeObject>[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  const end = () => {
    ended = true;
    wake?.();
  };
  opts.stop?.addEventListener('abort', end, { once: true });
  async function* events(): AsyncGenerator<WatcherEvent<KubeObject>> {
    yield { type: 'Init' };
    for (const name of names) yield { type: 'InitApply', object: configMap(name) };
    yield { type: 'InitDone' };
    for (;;) {
      while (queue.length > 0) yield queue.shift()!;
      if (ended) return;
      await new Promise<void>((r) => (wake = r));
    }
  }
  const driving = (async () => {
    for await (const _ of reflectShared(shared.writer, events())) {
      /* drive */
    }
  })();
  return {
    reader: shared.reader,
    driving,
    push(e: WatcherEvent<KubeObject>) {
      queue.push(e);
      wake?.();
    },
    async end() {
      end();
      await driving;
    },
  };
}
