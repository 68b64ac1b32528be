/**
 * SIGTERM to an operator whose main is `manager.run()` (manager-child.ts,
 * in its own process, leading on a Lease) while reconciles are in flight:
 * no new reconcile starts, those in flight finish within the deadline, the
 * Lease is released only after them, and the process exits 0 — or, when the
 * deadline is shorter than the reconciles, exits 2 (reconciles abandoned),
 * still releasing the Lease only once they have returned.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ConfigMap } from '../../generated/core/v1/configmap.ts';
import { Api, Client } from '../../runtime/index.ts';
import { LEASES, type Lease } from '../../runtime/scale/lease.ts';
import { repoRoot } from '../controlplane/plane.ts';
import { testNamespace } from '../support/kube.ts';

const kubeconfig = inject('kube').kubeconfig;
const admin = Client.fromFile(kubeconfig, { context: 'admin' });
afterAll(() => admin.close());

interface Line {
  t: number;
  event: string;
  name?: string;
  report?: { finished: number; abandoned: number; exitCode: number };
}

async function run(deadlineMs: number) {
  const ns = await testNamespace('mgr-sigterm');
  for (const name of ['a', 'b', 'c']) await ConfigMap.api(admin, ns).create({ metadata: { name } });
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/integration/manager-child.ts'), kubeconfig, ns, String(deadlineMs)], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const log: Line[] = [];
  createInterface({ input: child.stdout }).on('line', (l) => log.push(JSON.parse(l) as Line));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  for (const deadline = Date.now() + 60_000; log.filter((l) => l.event === 'begin').length < 3; await new Promise((r) => setTimeout(r, 20)))
    if (Date.now() > deadline) throw new Error(`no reconciles began: ${JSON.stringify(log)}`);
  const termAt = Date.now();
  child.kill('SIGTERM');
  const code = await exited;
  const lease = await new Api<Lease>(admin, LEASES, ns).get('signals');
  return { code, log, termAt, lease };
}

describe('Manager.run() and SIGTERM', () => {
  it('drains the reconciles in flight, then releases the Lease and exits 0', async () => {
    const { code, log, termAt, lease } = await run(10_000);
    const ends = log.filter((l) => l.event === 'end');
    expect(ends.map((l) => l.name).sort()).toEqual(['a', 'b', 'c']);
    expect(log.filter((l) => l.event === 'begin' && l.t > termAt)).toEqual([]); // nothing new started after SIGTERM
    expect(log.at(-1)?.report).toEqual({ finished: 3, abandoned: 0, exitCode: 0 });
    expect(code).toBe(0);
    expect(lease.spec?.holderIdentity ?? null).toBeNull(); // released
  }, 90_000);

  it('with a deadline shorter than the reconciles: exits 2, and the Lease goes only once they have returned', async () => {
    const { code, log, lease } = await run(200);
    const ends = log.filter((l) => l.event === 'end');
    expect(ends).toHaveLength(3); // they ignore their signal: they still ran to the end before the process exited
    expect(log.at(-1)?.report).toEqual({ finished: 0, abandoned: 3, exitCode: 2 });
    expect(code).toBe(2);
    expect(lease.spec?.holderIdentity ?? null).toBeNull();
  }, 90_000);
});
