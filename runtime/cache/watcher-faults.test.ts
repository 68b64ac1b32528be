/**
 * The watcher against a server that answers every watch with 410 — as a
 * lagging watch cache, or one restored from an older etcd backup, can. Found
 * by the fault suite (`test/faults/`): without a backoff this is a full list
 * in a hot loop. The source is scripted because the real server does this
 * only in broken states.
 */
import { describe, expect, it } from 'vitest';
import type { ListWatch } from '../client/api.ts';
import type { BackoffPolicy } from '../core/backoff.ts';
import type { ObjectList, WatcherEvent, WatchEvent } from '../core/types.ts';
import { silentLogger } from '../core/logger.ts';
import { watcher } from './watcher.ts';

interface Obj {
  metadata: { name: string; resourceVersion: string };
}

const gone: WatchEvent<Obj> = { type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } as never };

/** Lists one object; every watch sends `before` events, then an in-stream 410. */
function goneEveryWatch(before: WatchEvent<Obj>[] = []): ListWatch<Obj> & { lists: number } {
  const src = {
    resource: { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true },
    namespace: 'ns',
    lists: 0,
    async list(): Promise<ObjectList<Obj>> {
      src.lists++;
      return { metadata: { resourceVersion: '10' }, items: [{ metadata: { name: 'a', resourceVersion: '10' } }] };
    },
    watch: () =>
      (async function* () {
        yield* before;
        yield gone;
      })(),
  };
  return src;
}

/** A backoff that records what the watcher asks of it and never sleeps. */
function recording(): { policy: BackoffPolicy; nexts: number; resets: number } {
  const r = {
    nexts: 0,
    resets: 0,
    policy: () => ({ next: () => (r.nexts++, 0), reset: () => void r.resets++ }),
  };
  return r;
}

async function initsOf(events: AsyncGenerator<WatcherEvent<Obj>>, n: number): Promise<void> {
  let inits = 0;
  for await (const e of events) if (e.type === 'Init' && ++inits === n) return;
}

describe('watcher: 410 on every watch', () => {
  it('relists at once after the first 410, then waits a growing backoff before each further relist', async () => {
    const src = goneEveryWatch();
    const b = recording();
    await initsOf(watcher(src, { backoff: b.policy, logger: silentLogger }), 5);
    // Init 1 is the start; 410 #1 relists at once (Init 2); 410s #2–#4 each wait first (Inits 3–5).
    expect(b.nexts).toBe(3);
    // Only the first list reset the backoff; the pages of relists a 410 asked for did not.
    expect(b.resets).toBe(1);
    // Each Init comes with its list's first page: five Inits, five lists.
    expect(src.lists).toBe(5);
  });

  it('relists at once again when a watch event came between two 410s', async () => {
    const src = goneEveryWatch([{ type: 'MODIFIED', object: { metadata: { name: 'a', resourceVersion: '11' } } }]);
    const b = recording();
    await initsOf(watcher(src, { backoff: b.policy, logger: silentLogger }), 5);
    expect(b.nexts).toBe(0);
  });
});
