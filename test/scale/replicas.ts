/**
 * What the multi-process scale tests share: replicas started as child
 * processes whose JSON output lines are collected into one log, killed when
 * the test file ends, and a poll for a condition on that log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, expect, inject } from 'vitest';
import { Client } from '../../runtime/client/client.ts';
import { repoRoot } from '../controlplane/plane.ts';

/** One line of a replica's output: when, who, what (plus what the event carries). */
export interface ReplicaLine {
  t: number;
  id: string;
  event: string;
}

const children: ChildProcess[] = [];

/** Starts `test/scale/<script>` with `args` as replica `id`; its lines go to `log`. */
export function startReplica<L extends ReplicaLine>(script: string, args: string[], id: string, log: L[], env: Record<string, string> = {}): ChildProcess {
  return startProcess(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/scale', script), ...args], id, log, env);
}

/** Starts the program `command` (a replica that prints the same JSON lines, in any language) as replica `id`; its lines go to `log`. */
export function startProcess<L extends ReplicaLine>(command: string, args: string[], id: string, log: L[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(command, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  children.push(child);
  createInterface({ input: child.stdout! }).on('line', (l) => log.push(parseLine<L>(l, id)));
  return child;
}

/** SIGKILLs every replica still running (for `afterAll`). */
export function killReplicas(): void {
  for (const c of children.splice(0)) c.kill('SIGKILL');
}

/** A line of a replica's output; the last line of a SIGKILLed replica may be cut short, and is recorded as `cut-line`. */
function parseLine<L extends ReplicaLine>(line: string, id: string): L {
  try {
    return JSON.parse(line) as L;
  } catch {
    return { t: Date.now(), id, event: 'cut-line' } as L;
  }
}

/** Polls `fn` every 20 ms until it returns a value (not undefined or false), for up to `ms`. */
export async function until<T>(what: string, fn: () => T | undefined | false, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A scale test file's start: the kubeconfig, an admin client, and an afterAll that kills its replicas and closes the client. */
export function replicaSuite(): { kubeconfig: string; admin: Client } {
  const kubeconfig = inject('kube').kubeconfig;
  const admin = Client.fromFile(kubeconfig, { context: 'admin' });
  afterAll(() => {
    killReplicas();
    admin.close();
  });
  return { kubeconfig, admin };
}

/**
 * The audit of leader-election replicas that print `start`, `act`, `stop` and
 * `exit` lines: every act lies inside a term of its replica (after its
 * `start`), and the span of one replica's term — its `start` to its last act —
 * never meets another replica's. Returns the terms.
 */
export function assertNoOverlappingTerms(log: ReplicaLine[]): { id: string; from: number; to: number }[] {
  const terms: { id: string; from: number; to: number }[] = [];
  const open = new Map<string, { from: number; to: number }>();
  for (const l of [...log].sort((a, b) => a.t - b.t)) {
    if (l.event === 'start') open.set(l.id, { from: l.t, to: l.t });
    else if (l.event === 'act') {
      const term = open.get(l.id);
      expect(term, `${l.id} acted outside a term`).toBeDefined();
      term!.to = l.t;
    } else if (l.event === 'stop' || l.event === 'exit') {
      const term = open.get(l.id);
      if (term) terms.push({ id: l.id, ...term });
      open.delete(l.id);
    }
  }
  for (const [id, term] of open) terms.push({ id, ...term });
  for (const a of terms)
    for (const b of terms) {
      if (a === b || a.id === b.id) continue;
      expect(a.to < b.from || b.to < a.from, `terms overlap: ${JSON.stringify(a)} and ${JSON.stringify(b)}`).toBe(true);
    }
  return terms;
}
