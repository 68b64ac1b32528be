/**
 * Every example runs with `--once` against the local control plane and exits
 * by itself, printing what it promises.
 */
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

const expectations: Record<string, RegExp[]> = {
  'pod-reflector': [/ready: 3 pods in pod-reflector-\w+: web-0, web-1, web-2/, /changed: added-later \(2 containers\)/, /the cache now holds 4 pods/],
  'node-reflector': [/nodes matching kubereflect\.dev\/pool=blue: example-blue-1, example-blue-2\n/],
  'crd-reflector': [/gear: red, size 3, no parts/, /sprocket: blue, size 2Gi, 24× tooth/],
  'metadata-only': [/PartialObjectMetadata web-0 labels=\{"app":"web"\}/, /5 pods cached as \d+ bytes of JSON/],
  'prune-and-keep': [
    /full: +\d+ bytes for 3 pods/,
    /pruned: +\d+ bytes/,
    /a kept pod: \{"metadata":\{"name":"web-0","namespace":"prune-\w+","resourceVersion":"\d+","uid":"[\w-]+"\},"spec":\{\},"status":\{"phase":"Pending"\}\}/,
  ],
  'shared-stream': [/auditor: late-arrival has 2 containers/, /auditor saw 3 objects, counter saw 3; store holds 3/],
  'wait-for-condition': [/slowpoke is Ready/],
  operator: [
    /RBAC it needs \(manager\.rbac\(\) prints the Role\): configmaps \(get, list, patch, watch\); events \(create, patch\); widgets \(list, patch, watch\); widgets\/status \(patch\)/,
    /GET \/readyz → ok: widget-operator running, 2 caches synced/,
    /gear: ConfigMap gear-widget \{color=red, parts=12xtooth, replicas=1, size=3\}, Ready at generation 1/,
    /gear updated: ConfigMap gear-widget \{color=green, parts=12xtooth, replicas=1, size=4\}, Ready at generation 2/,
    /sprocket-widget deleted → re-created by the operator/,
    /cog deleted: cleanup ran once, the Widget is gone, 2 external records left/,
    /GET \/metrics → controller_runtime_reconcile_total\{controller="widget-operator",result="success"\} [1-9]\d*/,
    /events: ConfigMapCreated ×3, ConfigMapUpdated ×1, ExternalRecordRemoved ×1/,
    /stopped: 0 reconciles abandoned, \d+ reconciles in all, 0 failed/,
  ],
  'sharded-operator': [
    /30 Widgets, each reconciled by the one replica whose range holds its uid:/,
    /replica-a \[0x0000000000000000, 0x5555555555555555\): \d+ Widgets, reconciled by replica-a\n/,
    /replica-b \[0x5555555555555555, 0xaaaaaaaaaaaaaaaa\): \d+ Widgets, reconciled by replica-b\n/,
    /replica-c \[0xaaaaaaaaaaaaaaaa, 0x10000000000000000\): \d+ Widgets, reconciled by replica-c\n/,
    /replica-a left the ring; after a change to every Widget, reconciled by replica-b and replica-c:/,
    /replica-b \[0x0000000000000000, 0x8000000000000000\): \d+ Widgets, reconciled by replica-b\n/,
    /stopped: 30 external records \(one per Widget\)/,
  ],
  'http-server': [/GET \/healthz → \{"ready":true,"objects":3\}; GET \/pods → 3 pods: web-0, web-1, web-2/],
};

describe.concurrent('examples', () => {
  for (const [name, patterns] of Object.entries(expectations)) {
    it(`${name} --once`, async () => {
      const { stdout } = await run(process.execPath, ['--import', 'tsx', join(repo, 'examples', 'run.ts'), name, '--once'], { cwd: repo, timeout: 60_000 });
      for (const p of patterns) expect(stdout).toMatch(p);
    }, 90_000);
  }

  it('the demo (npm start) regenerates the Widget types, follows both stores under churn, runs the operator, and stops by itself', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', join(repo, 'examples', 'demo.ts'), '--seconds', '6'], { cwd: repo, timeout: 120_000 });
    expect(stdout).toMatch(/generated the Widget types with the CLI: 1 kinds? in \d+ files/);
    const frames = stdout.split('\n\n').filter((f) => f.includes('pods (pruned)'));
    const last = frames.at(-1)!;
    const row = (label: string) => new RegExp(`${label} +(\\d+) +[\\d.]+ +(\\d+) +(\\d+)`).exec(last)!;
    for (const label of ['pods \\(pruned\\)', 'widgets']) {
      const [, objects, relists, errors] = row(label).map(Number);
      expect(objects, label).toBeGreaterThan(0);
      expect([relists, errors], label).toEqual([0, 0]);
    }
    expect(last).toMatch(/churn: [1-9]\d* creates, \d+ updates, \d+ deletes, 0 failures/);
    // The example operator reconciles the churned Widgets: a row with its rate, queue depth and last error.
    expect(last).toMatch(/operator: [1-9]\d* reconciles \([\d.]+\/s\), queue depth \d+, in flight \d+, \d+ failed; last error: /);
    expect(frames.some((f) => /operator: \d+ reconciles \((?!0\.0\/s)[\d.]+\/s\)/.test(f))).toBe(true);
    expect(stdout).toContain('stopped: every watch closed');
  }, 150_000);

  it('lists the examples when the name is unknown', async () => {
    const err = (await run(process.execPath, ['--import', 'tsx', join(repo, 'examples', 'run.ts'), 'nope'], { cwd: repo }).catch((e: unknown) => e)) as {
      code: number;
      stderr: string;
    };
    expect(err.code).toBe(2);
    expect(err.stderr).toContain(
      'examples: crd-reflector, http-server, metadata-only, node-reflector, operator, pod-reflector, prune-and-keep, sharded-operator, shared-stream, wait-for-condition',
    );
  });
});
