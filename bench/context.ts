/**
 * Context (not a target): the same N pods through client-go's shared informer
 * (Go) and kube-rs's reflector (Rust), built from their registries (the Go
 * module proxy, crates.io), reported as RSS: resident memory after the store
 * is ready minus before the client started. client-go also reports its Go heap
 * after `runtime.GC()`. The programs are in `bench/context/`; a toolchain
 * that is missing, or a build that fails, is reported and skipped.
 *
 * RSS is a coarser measure than the retained heap of scenario 1: it includes
 * allocator slack, freed-but-unreturned memory and the runtime itself, so
 * the Node rows here (from scenario 1's processes) are RSS too.
 */
import { execFile as execFileCb, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { stat, type RunContext, type Stat } from './harness.ts';

const execFile = promisify(execFileCb);
const here = fileURLToPath(new URL('./context/', import.meta.url));

export interface ContextRow {
  who: string;
  n: number;
  rssMiB: Stat;
  rssDeltaMiB: Stat;
  heapKiBPerObject: Stat;
}

export interface ContextResult {
  note: string;
  rows: ContextRow[];
}

interface Program {
  who: string;
  /** Builds the program; returns the binary, or why it could not. */
  build(ctx: RunContext): { bin: string } | { skipped: string };
  args: string[];
}

const has = (tool: string) =>
  spawnSync(tool, ['version'], { encoding: 'utf8' }).status === 0 || spawnSync(tool, ['--version'], { encoding: 'utf8' }).status === 0;

function buildGo(ctx: RunContext): { bin: string } | { skipped: string } {
  if (!has('go')) return { skipped: 'go not found' };
  const bin = join(ctx.scratch, 'client-go-informer');
  ctx.log('building bench/context/client-go (go build; the first build takes minutes)…');
  const r = spawnSync('go', ['build', '-o', bin, '.'], { cwd: join(here, 'client-go'), encoding: 'utf8' });
  return r.status === 0 ? { bin } : { skipped: `go build failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}` };
}

/** Builds the kube-rs programs (`cargo build --release --locked`) into the run's scratch directory; returns the path of `binary`, or why it could not. */
export function buildKubeRs(ctx: Pick<RunContext, 'scratch' | 'log'>, binary: string): { bin: string } | { skipped: string } {
  if (!has('cargo')) return { skipped: 'cargo not found' };
  const target = join(ctx.scratch, 'cargo-target');
  ctx.log('building bench/context/kube-rs (cargo build --release; the first build takes many minutes)…');
  const r = spawnSync('cargo', ['build', '--release', '--locked'], {
    cwd: join(here, 'kube-rs'),
    encoding: 'utf8',
    env: { ...process.env, CARGO_TARGET_DIR: target },
  });
  const bin = join(target, 'release', binary);
  return r.status === 0 && existsSync(bin) ? { bin } : { skipped: `cargo build failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}` };
}

const buildRust = (ctx: RunContext) => buildKubeRs(ctx, 'kube-rs-reflector-bench');

const PROGRAMS: (Program & { mode?: string })[] = [
  { who: 'client-go shared informer (Go)', build: buildGo, args: [] },
  { who: 'kube-rs reflector, full (Rust)', build: buildRust, args: ['full'] },
  { who: 'kube-rs reflector, metadata-only (Rust)', build: buildRust, args: ['metadata'] },
];

interface Measured {
  stored: number;
  rssBefore: number;
  rssAfter: number;
  heapBefore?: number;
  heapAfter?: number;
}

/** Runs the Go and Rust reflectors against the real apiserver, `ctx.reps` times per size. */
export async function runContext(ctx: RunContext, nodeRows: ContextRow[] = []): Promise<ContextResult> {
  mkdirSync(ctx.scratch, { recursive: true });
  const built = new Map<(c: RunContext) => unknown, { bin: string } | { skipped: string }>();
  const notes: string[] = [];
  const rows: ContextRow[] = [];
  for (const p of PROGRAMS) {
    if (!built.has(p.build)) built.set(p.build, p.build(ctx));
    const b = built.get(p.build)!;
    if ('skipped' in b) {
      notes.push(`${p.who}: not measured (${b.skipped}).`);
      continue;
    }
    for (const n of ctx.sizes) {
      const samples: Measured[] = [];
      for (let rep = 0; rep < ctx.reps; rep++) {
        const { stdout } = await execFile(b.bin, [ctx.kubeconfig, ctx.namespaceFor(n), ...p.args], { maxBuffer: 1 << 20, timeout: 600_000 });
        const m = JSON.parse(stdout.trim().split('\n').pop()!) as Measured;
        if (m.stored !== n) throw new Error(`${p.who} stored ${m.stored} pods, expected ${n}`);
        samples.push(m);
        ctx.log(`context n=${n} rep ${rep + 1}/${ctx.reps} ${p.who}: RSS +${((m.rssAfter - m.rssBefore) / 2 ** 20).toFixed(1)} MiB`);
      }
      rows.push({
        who: p.who,
        n,
        rssMiB: stat(samples.map((m) => m.rssAfter / 2 ** 20)),
        rssDeltaMiB: stat(samples.map((m) => (m.rssAfter - m.rssBefore) / 2 ** 20)),
        heapKiBPerObject: stat(samples.map((m) => (m.heapAfter !== undefined && m.heapBefore !== undefined ? (m.heapAfter - m.heapBefore) / 1024 / n : NaN))),
      });
    }
  }
  const note = [
    'Built from their registries by `bench/context/` (`go build`, `cargo build --release`) and run against the same apiserver and namespaces, same repetitions. ' +
      "RSS includes allocator slack and the runtime, so it is coarser than scenario 1's retained heap; the Node rows below are the RSS of scenario 1's processes. " +
      "client-go's \"heap\" is Go's `HeapAlloc` after `runtime.GC()`, the nearest to scenario 1's measure.",
    ...notes,
  ].join(' ');
  return { note, rows: [...rows, ...nodeRows].sort((a, b) => a.n - b.n) };
}
