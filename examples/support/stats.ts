/**
 * Counting what flows through a watcher stream, for the demo's live view and
 * the examples' summaries: events, relists, errors and the last error.
 */
import type { WatcherEvent } from '../../runtime/index.ts';

/** Running counts of one stream. */
export interface StreamStats {
  label: string;
  events: number;
  inits: number;
  errors: number;
  lastError: string | undefined;
}

/** Fresh, zeroed stats. */
export function newStats(label: string): StreamStats {
  return { label, events: 0, inits: 0, errors: 0, lastError: undefined };
}

/** Passes `stream` through unchanged, counting into `stats`. */
export async function* counted<K>(stream: AsyncIterable<WatcherEvent<K>>, stats: StreamStats): AsyncGenerator<WatcherEvent<K>> {
  for await (const e of stream) {
    if (e.type === 'Init') stats.inits++;
    else if (e.type === 'Error') {
      stats.errors++;
      stats.lastError = e.error.message;
    } else if (e.type !== 'InitDone') stats.events++;
    yield e;
  }
}

/** Relists after the first list. */
export function relists(stats: StreamStats): number {
  return Math.max(0, stats.inits - 1);
}
