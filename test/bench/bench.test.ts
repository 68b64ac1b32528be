/**
 * A tiny run of every benchmark scenario (N = 20, one repetition) against the
 * test cluster, so that the harness cannot rot: each scenario must run, store
 * exactly N pods, and produce positive, finite numbers, and the report and
 * charts must render. No time or ratio is asserted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { runAll } from '../../bench/run.ts';
import { renderCharts, renderReport } from '../../bench/report.ts';
import type { Stat } from '../../bench/harness.ts';
import '../support/env.ts';

const N = 20;
const scratch = mkdtempSync(join(tmpdir(), 'kubereflect-bench-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const sane = (s: Stat) => {
  expect(s.n).toBe(1);
  expect(Number.isFinite(s.median) && s.median > 0, `median ${s.median}`).toBe(true);
};

describe('benchmarks, tiny size', () => {
  it('runs every scenario with sane numbers and renders the report', { timeout: 900_000 }, async () => {
    const namespace = `bench-tiny-${randomBytes(4).toString('hex')}`;
    const lines: string[] = [];
    const results = await runAll(
      {
        kubeconfig: inject('kube').kubeconfig,
        sizes: [N],
        reps: 1,
        namespaceFor: () => namespace,
        log: (l) => void lines.push(l),
        scratch,
        minEvents: 200,
        // One other kind, the CRD: its install, client-node's CustomObjectsApi list and the replay of another path.
        kinds: ['workflows'],
        namespaceForKind: (kind) => `${namespace}-${kind}`,
        shardObjects: N,
      },
      ['memory', 'sync', 'throughput', 'relist', 'fanout', 'indexes', 'sharding'],
    );

    expect(results.loader[0]).toMatchObject({ namespace, pods: N, loaded: true });
    expect(results.loader[0]!.podsPerSecond).toBeGreaterThan(0);

    const memory = results.memory![0]!;
    expect(memory.rows.map((r) => r.contender)).toEqual([
      'client-node',
      'kubereflect:full',
      'kubereflect:lazy',
      'kubereflect:metadata',
      'kubereflect:metadata-strip',
      'kubereflect:prune',
      'kubereflect:keep',
      'json',
    ]);
    for (const r of memory.rows) sane(r.bytesPerObject);
    // The other kinds: each loaded and measured with every client (a store that missed an object throws in its child).
    expect(results.memory!.map((m) => m.kind)).toEqual(['pods', 'workflows']);
    expect(results.kindLoader?.map((l) => [l.kind, l.objects])).toEqual([['workflows', N]]);
    for (const m of results.memory!.slice(1)) {
      expect(m.rows.map((r) => r.contender)).toEqual(['client-node', 'kubereflect:full', 'kubereflect:lazy', 'kubereflect:metadata', 'json']);
      for (const r of m.rows) sane(r.bytesPerObject);
    }

    for (const r of results.sync![0]!.rows) sane(r.ms);

    expect(results.throughput!.map((t) => t.kind)).toEqual(['pods', 'workflows']);
    for (const t of results.throughput!.slice(1)) for (const r of t.rows) sane(r.eventsPerSecond);
    const throughput = results.throughput![0]!;
    expect(throughput.rows.map((r) => r.contender)).toEqual([
      'client-node',
      'kubereflect',
      'kubereflect:lazy',
      'kubereflect:prune',
      'HTTPS+JSON.parse+Map',
      'JSON.parse',
    ]);
    for (const r of throughput.rows) {
      sane(r.eventsPerSecond);
      expect(Number.isFinite(r.ratioToLimit)).toBe(true);
    }

    for (const r of results.relist![0]!.rows) {
      sane(r.steadyMiB);
      sane(r.peakMiB);
      sane(r.peakToSteady);
      expect(r.samples).toBeGreaterThan(0);
    }

    const fanout = results.fanout![0]!;
    expect(fanout.rows).toHaveLength(12);
    for (const r of fanout.rows) sane(r.eventsPerSecond);
    expect(Object.keys(fanout.costPerSubscriberMicros.dispatch)).toEqual(['client-node', 'kubereflect']);
    const indexes = results.indexes![0]!;
    sane(indexes.scanMicros);
    sane(indexes.indexMicros);
    // At 20 pods an index's heap is within GC noise: only that it was measured.
    expect(Number.isFinite(indexes.byNodeBytesPerPod.median) && Number.isFinite(indexes.ownerBytesPerPod.median)).toBe(true);

    // Sharding: every configuration measured, the server-side replicas parsed only their range, the client-side ones everything.
    const sharding = results.sharding!;
    expect(sharding.rows.map((r) => `${r.mode} ${r.n}`)).toEqual([
      'server-side 1',
      'server-side 2',
      'server-side 4',
      'client-side 1',
      'client-side 2',
      'client-side 4',
    ]);
    for (const r of sharding.rows) expect(r.bytesKiB, `${r.mode} ${r.n}`).toBeGreaterThan(0);
    for (const r of sharding.rows.filter((x) => x.mode === 'client-side')) expect(r.objects).toBe(N);
    expect(sharding.rows.find((r) => r.mode === 'server-side' && r.n === 4)!.objects).toBeLessThan(N);

    const report = renderReport(results);
    for (const heading of [
      '## Headline',
      '## 1. Store memory',
      '## 2. Initial sync',
      '## 3. Event throughput',
      '## 4. Relist peak',
      '## 5. Dispatcher fan-out',
      '## 6. Secondary indexes',
      '## 8. Sharding',
    ]) {
      expect(report).toContain(heading);
    }
    const charts = renderCharts(results);
    expect(charts.map((c) => c.name)).toEqual(['memory.svg', 'throughput.svg']);
    for (const c of charts) expect(c.svg).toMatch(/^<svg [^>]*>[\s\S]*<rect [\s\S]*<\/svg>\n$/);
  });
});
