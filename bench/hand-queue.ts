/**
 * The best hand-written work queue a client-node program would put behind
 * its informer, as the controller benchmarks compare against: a Map of dirty
 * keys (taken in insertion order), a set of keys in flight, a key added while
 * in flight queued again when it finishes, and `workers` async workers, so
 * repeats merge and a key is never reconciled twice at once. No rate limits,
 * no metrics, no error handling: the least a loop can do.
 */
export interface HandQueue {
  enqueue(key: string): void;
  /** Stops the workers (after their current key). */
  stop(): Promise<void>;
}

/**
 * Starts `workers` workers calling `reconcile(key)` for every key queued for
 * which `has(key)` is true; `waited` gets each key's queue wait, ms.
 */
export function handQueue(opts: { workers: number; has(key: string): boolean; reconcile(key: string): Promise<void>; waited(ms: number): void }): HandQueue {
  const dirty = new Map<string, number>(); // key → when queued
  const inFlight = new Set<string>();
  const again = new Set<string>();
  const idle: (() => void)[] = [];
  let stopped = false;
  const enqueue = (key: string) => {
    if (inFlight.has(key)) return void again.add(key);
    if (!dirty.has(key)) dirty.set(key, performance.now());
    idle.shift()?.();
  };
  const worker = async () => {
    while (!stopped) {
      const next = dirty.entries().next();
      if (next.done) {
        await new Promise<void>((resolve) => idle.push(resolve));
        continue;
      }
      const [key, queuedAt] = next.value;
      dirty.delete(key);
      inFlight.add(key);
      opts.waited(performance.now() - queuedAt);
      if (opts.has(key)) await opts.reconcile(key);
      inFlight.delete(key);
      if (again.delete(key)) enqueue(key);
    }
  };
  const workers = Array.from({ length: opts.workers }, worker);
  return {
    enqueue,
    async stop() {
      stopped = true;
      for (const resume of idle.splice(0)) resume();
      await Promise.all(workers);
    },
  };
}
