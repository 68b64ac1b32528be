/**
 * The soak: `npm run soak -- --minutes N [--report file.md]`.
 *
 * For N minutes (default 30), against the local control plane:
 *
 * - a long-lived reflector on one namespace under steady churn, through a
 *   fault proxy whose "weather" changes every 3–10 s: connections dropped,
 *   the open watch silenced, watches answered 429 or 500, a bad line spliced
 *   into a watch, a watch trickled;
 * - meanwhile the fault suite's scenarios (`scenarios/`; the list below), one after
 *   the other, round after round, each in its own fixed namespace with its own
 *   churn: cuts, apiserver SIGKILL, compaction (410), expired continue token,
 *   stalls, 429/500, a 410 on every watch, exec credential rotation (401),
 *   403, bad bytes, slow dispatcher subscribers, TLS verification,
 *   prototype-named objects.
 *
 * After each round — a checkpoint — the long-lived reflector's churn pauses
 * and its store is compared with a quorum list, and the heap is measured
 * after a full GC. It prints one line per scenario run and per checkpoint and
 * ends with a summary table (markdown), written to `--report` too.
 * Exits non-zero if any invariant failed, any run threw, any event was
 * replayed, any credential leaked or any promise rejection went unhandled.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Api } from '../../runtime/client/api.ts';
import { sleep } from '../../runtime/core/backoff.ts';
import type { KubeObject } from '../../runtime/core/types.ts';
import { startExtraApiserver, up, usePlane } from '../controlplane/plane.ts';
import { captureConsole, Churn, closeClients, configMaps, converges, describeInvariant, Subject, trackUnhandledRejections, type ConfigMap } from './harness.ts';
import { Lab, type ScenarioReport } from './lab.ts';
import type { Fault } from '../../testing/proxy.ts';
import { apiserverKill, continueExpired, watchCompacted } from './scenarios/apiserver.ts';
import { scenarioNamespace, subjectThrough, tally } from './scenarios/common.ts';
import { execRotation, forbidden, rotationTokens, tokenFileWith } from './scenarios/credentials.ts';
import { connectionCuts } from './scenarios/cuts.ts';
import { badBytes } from './scenarios/bad-bytes.ts';
import { slowSubscribers } from './scenarios/dispatcher.ts';
import { prototypeNames, tlsVerification } from './scenarios/security.ts';
import { stalls } from './scenarios/stalls.ts';
import { persistentGone, throttling } from './scenarios/throttling.ts';

const { values: args } = parseArgs({ options: { minutes: { type: 'string', default: '30' }, report: { type: 'string' } } });
const minutes = Number(args.minutes);
if (!(minutes > 0)) throw new Error(`--minutes must be a positive number, got ${args.minutes}`);

const gc = (globalThis as { gc?: () => void }).gc;
const heapMb = () => {
  gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
};
const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 60_000).toFixed(1).padStart(5)} min`;
const out = (line: string) => process.stdout.write(`${line}\n`);

interface Row {
  scenario: string;
  runs: number;
  passed: number;
  failures: string[];
  faults: number;
  events: number;
  requests: number;
  duplicates: number;
  leaks: Set<string>;
  heapStart: number;
  heapEnd: number;
}
const rows = new Map<string, Row>();
const row = (scenario: string, heap: number): Row => {
  let r = rows.get(scenario);
  if (!r)
    rows.set(
      scenario,
      (r = { scenario, runs: 0, passed: 0, failures: [], faults: 0, events: 0, requests: 0, duplicates: 0, leaks: new Set(), heapStart: heap, heapEnd: heap }),
    );
  return r;
};

const { state, started } = await up();
const release = usePlane(started);
const unhandled = trackUnhandledRejections();
const consoleLeaks = new Set<string>();
let lab!: Lab;
const stopConsole = captureConsole((text) => lab?.secrets.leaks([text]).forEach((l) => consoleLeaks.add(l)));
lab = new Lab();
const dir = mkdtempSync(join(tmpdir(), 'kubereflect-soak-'));
const tokens = rotationTokens();
const extra = await startExtraApiserver(state, 'soak', [`--token-auth-file=${tokenFileWith(lab, tokens, dir)}`]);
// Interrupted: stop the second apiserver (started detached) and the proxies, then go.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    out(`soak: ${sig}; cleaning up`);
    void Promise.allSettled([extra.stop(), lab.close()]).then(() => process.exit(130));
  });
}
out(
  `soak: ${minutes} min against kube-apiserver ${state.version}; heap ${heapMb().toFixed(1)} MB at start${gc ? '' : ' (no --expose-gc: heap figures include garbage)'}`,
);

// ---------------------------------------------------------------- the long-lived reflector and its weather

const longNs = await scenarioNamespace(lab, 'soak-longlived', true);
const longTruth = new Api<ConfigMap>(lab.admin, configMaps, longNs);
const longProxy = await lab.proxy();
const longChurn = new Churn(longTruth as Api<KubeObject>, { perSecond: 20, target: 100, payloadBytes: 500 }).start();
const long = subjectThrough(lab, longProxy, longNs, { pageSize: 50, timeoutSeconds: 30, idleTimeoutMs: 3_000 }, { requestTimeoutMs: 5_000 });
const longClient = (long.api as Api<ConfigMap>).client;
let longRequests = 0;
const longHeapStart = heapMb();
const weatherCount: Record<string, number> = {};
const longErrors: Record<string, number> = {};
const longLeaks = new Set<string>();
let weatherOn = true;
const status = (code: number) =>
  JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason: code === 429 ? 'TooManyRequests' : 'InternalError', message: 'soak' });
const weathers: [string, () => void][] = [
  ['every connection dropped', () => longProxy.cutAll()],
  ['open watch silenced', () => longProxy.stallOpen()],
  [
    'watches answered 429',
    () => {
      let n = 3;
      longProxy.rule = (r) => (r.watch && n-- > 0 ? { type: 'respond', status: 429, headers: { 'retry-after': '1' }, body: status(429) } : undefined);
      longProxy.cutAll();
    },
  ],
  [
    'watches answered 500',
    () => {
      let n = 3;
      longProxy.rule = (r) => (r.watch && n-- > 0 ? { type: 'respond', status: 500, body: status(500) } : undefined);
      longProxy.cutAll();
    },
  ],
  [
    'bad line in a watch',
    () => {
      let n = 1;
      longProxy.rule = (r) =>
        r.watch && n-- > 0 ? ({ type: 'inject', after: 1, bytes: () => Buffer.from('{"type":"ADDED","object":\n'), then: 'continue' } as Fault) : undefined;
      longProxy.cutAll();
    },
  ],
  [
    'watch cut mid-event',
    () => {
      let n = 1;
      longProxy.rule = (r) => (r.watch && n-- > 0 ? { type: 'cut', afterBytes: 1_500 } : undefined);
      longProxy.cutAll();
    },
  ],
  [
    'watch trickled',
    () => {
      let n = 1;
      longProxy.rule = (r) => (r.watch && n-- > 0 ? { type: 'slow', bytes: 200, everyMs: 20 } : undefined);
      longProxy.cutAll();
      setTimeout(() => longProxy.cutAll(), 3_000); // a trickle would fall behind the churn for ever
    },
  ],
];
const weather = (async () => {
  while (weatherOn) {
    await sleep(3_000 + Math.random() * 7_000);
    if (!weatherOn) break;
    const [what, act] = weathers[Math.floor(Math.random() * weathers.length)]!;
    weatherCount[what] = (weatherCount[what] ?? 0) + 1;
    act();
  }
})();

async function checkpoint(round: number): Promise<boolean> {
  await longChurn.stop();
  const inv = await converges(long.reader, longTruth, 30_000);
  longChurn.start();
  const { texts, errors } = long.drain();
  longRequests += longProxy.requests.splice(0).length;
  for (const [k, n] of Object.entries(tally(errors))) longErrors[k] = (longErrors[k] ?? 0) + n;
  lab.secrets.leaks(texts).forEach((l) => longLeaks.add(l));
  const faults = Object.values(weatherCount).reduce((a, b) => a + b, 0);
  out(
    `${elapsed()}  checkpoint ${String(round).padStart(2)}  heap ${heapMb().toFixed(1).padStart(6)} MB  rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB` +
      `  long-lived: ${long.objectEvents} events, ${faults} faults, ${long.counts.Init - 1} relists, ${long.duplicates} replays; invariant ${describeInvariant(inv)}`,
  );
  return inv.ok && long.duplicates === 0;
}

// ---------------------------------------------------------------- the scenarios, round after round

const ns = (s: string) => ({ fixedNamespace: `soak-${s}` });
const scenarios: [string, () => Promise<ScenarioReport>][] = [
  ['1. connection cuts', () => connectionCuts(lab, { seconds: 20, ...ns('cuts') })],
  ['2a. kube-apiserver SIGKILL + restart', () => apiserverKill(lab, extra, { downSeconds: 3, ...ns('kill') })],
  ['2b. etcd compacted: watch gets 410', () => watchCompacted(lab, ns('compact'))],
  ['2c. list continue token expired', () => continueExpired(lab, ns('continue'))],
  ['3. stalled and slow connections', () => stalls(lab, { slowSeconds: 3, ...ns('stall') })],
  ['4. 429 Retry-After and 500s', () => throttling(lab, { seconds: 5, ...ns('throttle') })],
  ['4b. every watch answered 410', () => persistentGone(lab, { seconds: 5, ...ns('gone') })],
  ['5a. exec credential: 401, refresh, rotation', () => execRotation(lab, extra, tokens, { seconds: 10, ...ns('exec') })],
  ['5b. viewer forbidden (403)', () => forbidden(lab, { seconds: 5 })],
  ['6. bad bytes', () => badBytes(lab, ns('bytes'))],
  ['7. slow subscribers', () => slowSubscribers(lab, { seconds: 10, ...ns('subscribers') })],
  ['security: TLS verification', () => tlsVerification(lab)],
  ['security: prototype-named objects', () => prototypeNames(lab)],
];

let ok = true;
const deadline = t0 + minutes * 60_000;
for (let round = 1; Date.now() < deadline; round++) {
  for (const [name, run] of scenarios) {
    if (Date.now() >= deadline) break;
    const r = row(name, heapMb());
    r.runs++;
    try {
      const rep = await run();
      const passed = rep.invariant.ok && rep.duplicates === 0 && rep.leaks.length === 0;
      r.passed += passed ? 1 : 0;
      if (!passed) r.failures.push(`round ${round}: ${describeInvariant(rep.invariant)}; ${rep.duplicates} replays; leaks ${rep.leaks.join(', ') || 'none'}`);
      r.faults += Object.values(rep.faults).reduce((a, b) => a + b, 0);
      r.events += rep.events;
      r.requests += rep.requests;
      r.duplicates += rep.duplicates;
      rep.leaks.forEach((l) => r.leaks.add(l));
      ok &&= passed;
      out(
        `${elapsed()}  ${passed ? 'ok  ' : 'FAIL'} ${name}: ${rep.events} events, faults ${JSON.stringify(rep.faults)}, errors ${JSON.stringify(rep.errors)}, ${rep.requests} requests, invariant ${describeInvariant(rep.invariant)}`,
      );
    } catch (err) {
      ok = false;
      r.failures.push(`round ${round}: threw ${(err as Error).message}`);
      out(`${elapsed()}  FAIL ${name}: threw ${(err as Error).stack}`);
      for (const s of [...Subject.live]) if (s !== (long as unknown)) await s.stop().catch(() => {});
      await lab.dropProxiesExcept([longProxy]);
    }
    closeClients([longClient, lab.admin]);
    r.heapEnd = heapMb();
  }
  ok = (await checkpoint(round)) && ok;
}

// ---------------------------------------------------------------- the end

weatherOn = false;
await weather;
await longChurn.stop();
const longInv = await converges(long.reader, longTruth, 30_000);
await long.stop();
const drained = long.drain();
lab.secrets.leaks(drained.texts).forEach((l) => longLeaks.add(l));
for (const [k, n] of Object.entries(tally(drained.errors))) longErrors[k] = (longErrors[k] ?? 0) + n;
const longRow: Row = {
  scenario: 'long-lived reflector under changing faults',
  runs: 1,
  passed: longInv.ok && long.duplicates === 0 && longLeaks.size === 0 ? 1 : 0,
  failures: longInv.ok ? [] : [describeInvariant(longInv)],
  faults: Object.values(weatherCount).reduce((a, b) => a + b, 0),
  events: long.objectEvents,
  requests: longRequests + longProxy.requests.length,
  duplicates: long.duplicates,
  leaks: longLeaks,
  heapStart: longHeapStart,
  heapEnd: heapMb(),
};
ok &&= longRow.passed === 1;
await extra.stop();
await lab.close();
rmSync(dir, { recursive: true, force: true });
stopConsole();
const rejections = unhandled();
ok &&= rejections.length === 0 && consoleLeaks.size === 0;

const table = [
  '| scenario | runs | invariant held | faults injected | events processed | requests | replays | leaked secrets | heap at start | heap at end |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |',
  ...[...rows.values(), longRow].map(
    (r) =>
      `| ${r.scenario} | ${r.runs} | ${r.passed}/${r.runs} | ${r.faults} | ${r.events} | ${r.requests} | ${r.duplicates} | ${r.leaks.size ? [...r.leaks].join(', ') : 'none'} | ${r.heapStart.toFixed(1)} MB | ${r.heapEnd.toFixed(1)} MB |`,
  ),
].join('\n');
const summary = [
  `Soak of ${minutes} min (${new Date(t0).toISOString()} → ${new Date().toISOString()}), kube-apiserver ${state.version}, Node ${process.version}.`,
  '',
  table,
  '',
  `Long-lived reflector: faults ${JSON.stringify(weatherCount)}; errors ${JSON.stringify(longErrors)}; ${long.counts.Init - 1} relists; final invariant ${describeInvariant(longInv)}.`,
  `Unhandled rejections: ${rejections.length}. Secrets in console output: ${consoleLeaks.size ? [...consoleLeaks].join(', ') : 'none'}.`,
  ...[...rows.values(), longRow].flatMap((r) => r.failures.map((f) => `Failure in ${r.scenario}: ${f}`)),
  `Result: ${ok ? 'PASS' : 'FAIL'}`,
].join('\n');
out(`\n${summary}`);
if (args.report) writeFileSync(args.report, `${summary}\n`);
await release();
process.exit(ok ? 0 : 1);
