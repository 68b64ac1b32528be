/**
 * Scenario 6: bad bytes from the server, spliced in by the proxy (the real
 * kube-apiserver never sends them, so this is the one place a fake answer is
 * needed). Under churn, one at a time, each on a fresh watch response after
 * one real event:
 *
 * - a line that is not JSON;
 * - truncated JSON, then the response ends;
 * - an `ERROR` event with a code nobody knows (599);
 * - a line that is JSON but no event, and an event of an unknown type;
 * - invalid UTF-8;
 * - a 10 MB object: an `ADDED` of an extra configmap, then its `DELETED`
 *   (valid input, only big: it must pass, and leave the store as it was).
 *
 * Before all that, the first list page arrives as invalid UTF-8 and then as
 * truncated JSON. Each bad input must become a typed `Error` event; the
 * watch must resume from the last good resourceVersion (no relist, no lost
 * or replayed event) and the store must end equal to the server's truth.
 */
import { Api } from '../../../runtime/client/api.ts';
import { sleep } from '../../../runtime/core/backoff.ts';
import { ApiError, DecodeError, TransportError } from '../../../runtime/core/errors.ts';
import type { KubeObject } from '../../../runtime/core/types.ts';
import { Churn, configMaps, converges, type Subject, type ConfigMap } from '../harness.ts';
import type { Lab, ScenarioReport } from '../lab.ts';
import type { Fault } from '../../../testing/proxy.ts';
import { report, scenarioNamespace, subjectThrough } from './common.ts';

const line = (s: string | Buffer) => Buffer.concat([Buffer.from(s), Buffer.from('\n')]);
const HUGE = 10 * 1024 * 1024;

interface BadInput {
  what: string;
  fault: Fault;
  /** The error it must cause, or undefined when it is valid input. */
  expect: ((e: unknown) => boolean) | undefined;
}

function watchInputs(ns: string): BadInput[] {
  const huge = (type: 'ADDED' | 'DELETED', rv: string) =>
    line(
      JSON.stringify({
        type,
        object: {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'injected-huge', namespace: ns, uid: 'injected-uid', resourceVersion: rv },
          data: { blob: type === 'ADDED' ? 'h'.repeat(HUGE) : '' },
        },
      }),
    );
  const decode = (what: string) => (e: unknown) => e instanceof DecodeError && e.message.includes(what);
  return [
    { what: 'a line that is not JSON', fault: inject(() => line('this is { not json')), expect: decode('not JSON') },
    {
      what: 'truncated JSON, then the end',
      fault: inject(() => Buffer.from(`{"type":"MODIFIED","object":{"metadata":{"name":"seed-0001","namespace":"${ns}","resourceVer`), 'end'),
      expect: decode('not JSON'),
    },
    {
      what: 'an ERROR event with an unknown code',
      fault: inject(() =>
        line(
          JSON.stringify({
            type: 'ERROR',
            object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'SomethingNew', message: 'a future failure', code: 599 },
          }),
        ),
      ),
      expect: (e) => e instanceof ApiError && e.inStream && e.statusCode === 599 && e.reason === 'SomethingNew',
    },
    { what: 'JSON that is no event', fault: inject(() => line('[1,2,3]')), expect: decode('no known type') },
    { what: 'an event of an unknown type', fault: inject(() => line('{"type":"SURPRISE","object":{}}')), expect: decode('no known type') },
    {
      what: 'invalid UTF-8',
      fault: inject(() =>
        line(Buffer.concat([Buffer.from(`{"type":"ADDED","object":{"metadata":{"name":"bad-`), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}}}')])),
      ),
      expect: decode('not valid UTF-8'),
    },
    { what: 'a 10 MB object (then its deletion)', fault: inject((rv) => Buffer.concat([huge('ADDED', rv), huge('DELETED', rv)])), expect: undefined },
  ];
}

function inject(bytes: (rv: string) => Buffer, then: 'continue' | 'end' = 'continue'): Fault {
  return { type: 'inject', after: 1, bytes, then };
}

export async function badBytes(lab: Lab, o: { fixedNamespace?: string } = {}): Promise<ScenarioReport> {
  const ns = await scenarioNamespace(lab, o.fixedNamespace ?? 'faults-bytes', !!o.fixedNamespace);
  const truth = new Api<ConfigMap>(lab.admin, configMaps, ns);
  const proxy = await lab.proxy();
  const listItem = Buffer.concat([
    Buffer.from(`{"metadata":{"name":"bad-`),
    Buffer.from([0xff, 0xfe]),
    Buffer.from(`","namespace":"${ns}","uid":"u","resourceVersion":"1"}}`),
  ]);
  // A real resourceVersion: were the bad page accepted, the watch would carry on from it and the ghost would stay.
  const rv = (await truth.list({ limit: 1 })).metadata.resourceVersion ?? '1';
  const listPage = (item: Buffer) =>
    Buffer.concat([Buffer.from(`{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"${rv}"},"items":[`), item, Buffer.from(']}')]);
  const firstPage: Fault[] = [
    { type: 'respond', status: 200, body: listPage(listItem) },
    { type: 'respond', status: 200, body: listPage(listItem).subarray(0, 60) },
  ];
  let next: Fault | undefined;
  proxy.rule = (r) => {
    if (!r.watch) return r.continued ? undefined : firstPage.shift();
    const f = next;
    next = undefined;
    return f;
  };
  const churn = new Churn(truth as Api<KubeObject>, { perSecond: 40, target: 80, payloadBytes: 200 }).start();
  let biggest = 0;
  const subject: Subject<ConfigMap> = subjectThrough(
    lab,
    proxy,
    ns,
    { timeoutSeconds: 30 },
    {
      onEvent: (e) => void (e.type === 'Apply' && (biggest = Math.max(biggest, e.object.data?.blob?.length ?? 0))),
    },
  );
  const results: { what: string; ok: boolean }[] = [];
  try {
    await subject.waitUntil(() => subject.reader.isReady(), 30_000, 'the first list after two bad pages');
    const listErrors = subject.errors.slice();
    results.push({ what: 'first list page: invalid UTF-8', ok: listErrors.some((e) => e instanceof DecodeError && e.message.includes('UTF-8')) });
    results.push({ what: 'first list page: truncated JSON', ok: listErrors.some((e) => e instanceof DecodeError && e.message.includes('not JSON')) });
    for (const input of watchInputs(ns)) {
      const errorsBefore = subject.errors.length;
      next = input.fault;
      proxy.cutAll(); // a fresh watch response, which gets the input
      await subject.waitUntil(() => next === undefined, 10_000, `a watch that receives ${input.what}`);
      if (input.expect) {
        const expect = input.expect;
        await subject.waitUntil(() => subject.errors.slice(errorsBefore).some(expect), 10_000, `the error for ${input.what}`);
        results.push({ what: input.what, ok: true });
      } else {
        await subject.waitUntil(() => biggest === HUGE && !subject.reader.get({ name: 'injected-huge', namespace: ns }), 20_000, input.what);
        // Valid input: no error but the TransportError of the cut that opened this watch.
        results.push({ what: input.what, ok: subject.errors.slice(errorsBefore).every((e) => e instanceof TransportError) });
      }
      await sleep(300);
    }
  } finally {
    await churn.stop();
  }
  const invariant = await converges(subject.reader, truth);
  await subject.stop();
  await lab.dropProxy(proxy);
  return report('6. bad bytes', lab, subject, {
    faults: Object.fromEntries(results.map((r) => [r.what, 1])),
    requests: proxy.requests.length,
    writes: churn.writes,
    invariant,
    details: {
      handled: results.filter((r) => r.ok).length,
      of: results.length,
      failedInputs: results.filter((r) => !r.ok).map((r) => r.what),
      biggestObject: biggest,
    },
  });
}
