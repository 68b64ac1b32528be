/**
 * What every scenario shares: running one measurement in its own Node process
 * (`--expose-gc`, so the heap of one client never holds another's objects),
 * reading the live heap after a forced GC, statistics over repetitions, and
 * the settings of a run.
 *
 * A scenario file is both a library (its `run…` function, called by
 * `bench/run.ts` or the tiny-size test) and a child entry point: `inChild`
 * runs the measurement named in the message it receives and sends the result
 * back over the IPC channel.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as os from 'node:os';
import { kindNamespace, type BenchKind } from './kinds.ts';

/** The settings of one benchmark run. */
export interface RunContext {
  /** Kubeconfig of the apiserver (context `admin`). */
  kubeconfig: string;
  /** The pod counts to measure. */
  sizes: number[];
  /** Repetitions of each measurement (the issue asks for at least 5). */
  reps: number;
  /** Kinds besides pods for the memory and throughput scenarios (`kinds.ts`); default none. */
  kinds?: Exclude<BenchKind, 'pods'>[];
  /** The object counts to measure for those kinds (default `sizes`). */
  kindSizes?: number[];
  /** The namespace that holds `n` objects of a kind other than pods (default `kindNamespace`). */
  namespaceForKind?(kind: Exclude<BenchKind, 'pods'>, n: number): string;
  /** The namespace that holds `n` pods. */
  namespaceFor(n: number): string;
  /** Progress lines. */
  log(line: string): void;
  /** Where scratch files go (recorded bodies, certificates). */
  scratch: string;
  /** The replayed watch body repeats one event per pod until it has at least this many (default 10,000). */
  minEvents?: number;
  /** ConfigMaps in the sharding scenario (default 10,000). */
  shardObjects?: number;
}

/** The object counts to measure for `kind` in this run. */
export function sizesOf(ctx: RunContext, kind: BenchKind): number[] {
  return kind === 'pods' ? ctx.sizes : (ctx.kindSizes ?? ctx.sizes);
}

/** The namespace of `n` objects of `kind` in this run. */
export function namespaceOf(ctx: RunContext, kind: BenchKind, n: number): string {
  if (kind === 'pods') return ctx.namespaceFor(n);
  return ctx.namespaceForKind ? ctx.namespaceForKind(kind, n) : kindNamespace(kind, n);
}

/** Median, min and max of some repetitions. */
export interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
  values: number[];
}

export function stat(values: number[]): Stat {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0, values };
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return { median, min: v[0]!, max: v[v.length - 1]!, n: v.length, values };
}

/** Flags of every measuring process; `BENCH_CHILD_FLAGS` adds more (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile). */
const EXEC_ARGV = ['--expose-gc', '--max-old-space-size=8192', '--import', 'tsx', ...(process.env.BENCH_CHILD_FLAGS?.split(/\s+/).filter(Boolean) ?? [])];

/**
 * Runs `task` in a fresh Node process started on `file` (a scenario module)
 * and resolves with what it sends back. The child gets 15 minutes.
 */
export function inProcess<R>(file: string | URL, task: unknown, timeoutMs = 15 * 60_000): Promise<R> {
  const path = typeof file === 'string' ? file : fileURLToPath(file);
  return new Promise<R>((resolve, reject) => {
    const child = fork(path, ['--bench-child'], { execArgv: EXEC_ARGV, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: { ok: true; value: R } | { ok: false; error: string } | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('message', (m) => {
      result = m as typeof result;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (result?.ok) resolve(result.value);
      else reject(new Error(result ? result.error : `benchmark child ${path} exited (${code ?? signal}) without a result`));
    });
    child.send(task as never);
  });
}

/**
 * In a scenario module: when this process was started by `inProcess`, waits
 * for its task, runs `handler`, sends the result and exits.
 */
export function inChild<T, R>(handler: (task: T) => Promise<R>): void {
  if (!process.argv.includes('--bench-child') || !process.send) return;
  process.once('message', (task) => {
    handler(task as T).then(
      (value) => process.send!({ ok: true, value }, () => process.exit(0)),
      (err: Error) => process.send!({ ok: false, error: err?.stack ?? String(err) }, () => process.exit(1)),
    );
  });
}

declare const gc: (() => void) | undefined;

/** Live heap bytes after full GCs (the process must run with `--expose-gc`). */
export function liveHeap(): number {
  if (typeof gc !== 'function') throw new Error('benchmarks need node --expose-gc');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Live heap plus `ArrayBuffer`/`Buffer` backing stores, after full GCs: what a response body held as a Buffer costs too. */
export function liveBytes(): number {
  if (typeof gc !== 'function') throw new Error('benchmarks need node --expose-gc');
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Lets pending I/O and timers run (a watch being opened, sockets settling). */
export const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves when `check()` is true, polling every `everyMs`; rejects after `timeoutMs`. */
export async function until(check: () => boolean, what: string, timeoutMs = 300_000, everyMs = 1): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await settle(everyMs);
  }
}

/** The machine a run happened on. */
export function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    v8: process.versions.v8,
  };
}

/** `os.loadavg()` rounded, for the record. */
export function loadavg(): number[] {
  return os.loadavg().map((x) => Math.round(x * 100) / 100);
}

/** Order of the contenders in repetition `rep`: rotated, so no one always goes first. */
export function rotate<T>(items: T[], rep: number): T[] {
  const k = rep % items.length;
  return items.slice(k).concat(items.slice(0, k));
}
