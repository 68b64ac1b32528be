/**
 * Every transition of the watcher's state machine, driven by a scripted
 * list/watch source. The source is a fake because these are event sequences
 * the real server produces only by chance (an expired continue token, an
 * in-stream 410, a refusal of streaming lists); the integration tests cover
 * the same paths against kube-apiserver where it can be made to produce them.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it, vi } from 'vitest';
import type { ListOptions, ListWatch, WatchOptions } from '../client/api.ts';
import type { Backoff } from '../core/backoff.ts';
import { ApiError, DecodeError, TransportError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { ObjectList, WatcherEvent, WatchEvent } from '../core/types.ts';
import { watcher, watchObject, watchTimeoutSeconds } from './watcher.ts';

interface Obj {
  metadata: { name?: string; resourceVersion?: string; annotations?: Record<string, string> };
}

type Page = ObjectList<Obj> | Error;
/** A watch response: events, then optionally a failure, then (unless `hang`) the end. */
type WatchScript = Error | { events: WatchEvent<Obj>[]; fail?: Error; hang?: boolean };

const obj = (name: string, rv: string): Obj => ({ metadata: { name, resourceVersion: rv } });
const page = (items: Obj[], rv: string, cont?: string): ObjectList<Obj> => ({ metadata: { resourceVersion: rv, continue: cont }, items });
const ev = (type: WatchEvent<Obj>['type'], o: Obj): WatchEvent<Obj> => ({ type, object: o });
const bookmark = (rv: string, end = false): WatchEvent<Obj> =>
  ev('BOOKMARK', { metadata: { resourceVersion: rv, ...(end ? { annotations: { 'k8s.io/initial-events-end': 'true' } } : {}) } });
const gone = (inStream = false) =>
  new ApiError('GET /api/v1/configmaps', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' }, { code: 410, inStream });
const status = (code: number, reason: string) => new ApiError('GET /api/v1/configmaps', { kind: 'Status', code, reason, message: reason }, { code });

class Script implements ListWatch<Obj> {
  readonly resource = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };
  readonly namespace = 'ns';
  lists: ListOptions[] = [];
  watches: WatchOptions[] = [];
  constructor(
    private pages: Page[],
    private watchScripts: WatchScript[],
  ) {}

  async list(opts: ListOptions = {}): Promise<ObjectList<Obj>> {
    this.lists.push(opts);
    const p = this.pages.shift();
    if (!p) throw new Error('script: no more list pages');
    if (p instanceof Error) throw p;
    return p;
  }

  watch(opts: WatchOptions = {}): AsyncIterable<WatchEvent<Obj>> {
    this.watches.push(opts);
    const s = this.watchScripts.shift();
    return (async function* () {
      if (!s) {
        await new Promise<void>((resolve) => opts.signal?.addEventListener('abort', () => resolve()));
        return;
      }
      if (s instanceof Error) throw s;
      for (const e of s.events) yield e;
      if (s.fail) throw s.fail;
      if (s.hang) await new Promise<void>((resolve) => opts.signal?.addEventListener('abort', () => resolve()));
    })();
  }
}

/** A backoff that counts its calls and waits no time. */
function countingBackoff() {
  const calls = { next: 0, reset: 0 };
  const policy = (): Backoff => ({ next: () => (calls.next++, 0), reset: () => void calls.reset++ });
  return { calls, policy };
}

const quiet = (): Logger & { lines: string[] } => {
  const lines: string[] = [];
  return { lines, debug: () => {}, info: (m) => void lines.push(m), warn: (m) => void lines.push(m), error: (m) => void lines.push(m) };
};

/**
 * Runs the watcher until `n` events were emitted, lets it take its next step
 * (so the request it makes after the last event is recorded), then stops it.
 */
async function take(source: ListWatch<Obj>, n: number, config: Parameters<typeof watcher>[1] = {}): Promise<WatcherEvent<Obj>[]> {
  const ac = new AbortController();
  const out: WatcherEvent<Obj>[] = [];
  const it = watcher(source, { backoff: countingBackoff().policy, logger: quiet(), ...config, signal: ac.signal });
  while (out.length < n) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  const after = it.next();
  await new Promise((r) => setTimeout(r, 5));
  ac.abort();
  await after;
  await it.return(undefined);
  return out;
}

const short = (events: WatcherEvent<Obj>[]) =>
  events.map((e) =>
    'object' in e
      ? `${e.type}:${e.object.metadata.name}`
      : e.type === 'Error'
        ? `Error:${(e.error as ApiError).statusCode ?? e.error.name}`
        : e.type === 'Bookmark'
          ? `Bookmark:${e.resourceVersion}`
          : e.type,
  );
/** What a lagging watch cache answers to a list or watch at a resourceVersion it has not reached (after waiting 3 s). */
const tooLarge = () =>
  new ApiError(
    'GET /api/v1/configmaps',
    {
      kind: 'Status',
      code: 504,
      reason: 'Timeout',
      message: 'Too large resource version: 15, current: 10',
      details: { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 },
    },
    { code: 504, retryAfterSeconds: 1 },
  );

describe('watch timeouts', () => {
  it('spread: reflectors started together do not all reconnect together', () => {
    const asked = Array.from({ length: 200 }, () => watchTimeoutSeconds(290));
    expect(Math.min(...asked)).toBeGreaterThanOrEqual(290);
    expect(Math.max(...asked)).toBeLessThanOrEqual(362);
    expect(new Set(asked).size).toBeGreaterThan(30);
    expect(watchTimeoutSeconds(0)).toBe(0);
  });
});

describe('watcher: list + watch', () => {
  it('lists page by page, emits each page as it arrives, and watches from the list resourceVersion', async () => {
    const s = new Script(
      [page([obj('a', '1'), obj('b', '2')], '10', 'c1'), page([obj('c', '3')], '10', 'c2'), page([], '10')],
      [{ events: [ev('ADDED', obj('d', '11'))], hang: true }],
    );
    const got = await take(s, 6, { pageSize: 2, labelSelector: 'app=x' });
    expect(short(got)).toEqual(['Init', 'InitApply:a', 'InitApply:b', 'InitApply:c', 'InitDone', 'Apply:d']);
    expect(s.lists.map((l) => [l.limit, l.continue, l.resourceVersion, l.labelSelector])).toEqual([
      [2, undefined, undefined, 'app=x'],
      [2, 'c1', undefined, 'app=x'],
      [2, 'c2', undefined, 'app=x'],
    ]);
    expect(s.watches[0]).toMatchObject({ resourceVersion: '10', allowWatchBookmarks: true, labelSelector: 'app=x' });
    // 290 s plus a random quarter at most, and the idle limit follows the request's own timeout.
    const { timeoutSeconds, idleTimeoutMs } = s.watches[0]!;
    expect(timeoutSeconds).toBeGreaterThanOrEqual(290);
    expect(timeoutSeconds).toBeLessThanOrEqual(362);
    expect(idleTimeoutMs).toBe((timeoutSeconds! + 5) * 1000);
    expect(s.watches[0]!.sendInitialEvents).toBeUndefined();
  });

  it('parses the items of a page one by one as it hands them over, when the source leaves them as bytes', async () => {
    const bytes = (o: Obj) => Buffer.from(JSON.stringify(o)) as unknown as Obj;
    const parse = vi.spyOn(JSON, 'parse');
    const s = new Script([page([bytes(obj('a', '1')), bytes(obj('b', '2')), bytes(obj('c', '3'))], '10')], []);
    const ac = new AbortController();
    const it = watcher(s, { backoff: countingBackoff().policy, logger: quiet(), signal: ac.signal });
    expect((await it.next()).value).toEqual({ type: 'Init' });
    parse.mockClear();
    expect((await it.next()).value).toEqual({ type: 'InitApply', object: obj('a', '1') });
    // The page is in, but only its first item has been parsed.
    expect(parse).toHaveBeenCalledTimes(1);
    expect((await it.next()).value).toEqual({ type: 'InitApply', object: obj('b', '2') });
    expect(parse).toHaveBeenCalledTimes(2);
    parse.mockRestore();
    expect(s.lists[0]!.deferItems).toBe(true);
    ac.abort();
    await it.return(undefined);
  });

  it('reports a page item that does not parse as an Error and lists again from Init', async () => {
    const bad = Buffer.from('{"metadata":{"name":"b",}') as unknown as Obj;
    const good = Buffer.from(JSON.stringify(obj('a', '1'))) as unknown as Obj;
    const s = new Script([page([good, bad, good], '10'), page([obj('a', '1')], '11')], [{ events: [], hang: true }]);
    const got = await take(s, 6);
    expect(short(got)).toEqual(['Init', 'InitApply:a', 'Error:DecodeError', 'Init', 'InitApply:a', 'InitDone']);
    expect(s.lists).toHaveLength(2);
  });

  it('asks for resourceVersion 0 on the first page only with the Any semantic', async () => {
    const s = new Script([page([obj('a', '1')], '5', 'c'), page([], '5')], []);
    await take(s, 3, { listSemantic: 'Any' });
    expect(s.lists.map((l) => [l.resourceVersion, l.resourceVersionMatch])).toEqual([
      ['0', 'NotOlderThan'],
      [undefined, undefined],
    ]);
  });

  it('moves the resourceVersion on bookmarks, emitting each as Bookmark, and re-watches from it after a normal end, without relisting', async () => {
    const s = new Script(
      [page([], '10')],
      [{ events: [ev('MODIFIED', obj('a', '12')), bookmark('15')] }, { events: [ev('DELETED', obj('a', '16'))] }, { events: [], hang: true }],
    );
    const got = await take(s, 5, { timeoutSeconds: 0 });
    expect(short(got)).toEqual(['Init', 'InitDone', 'Apply:a', 'Bookmark:15', 'Delete:a']);
    expect(s.watches.length).toBe(3);
    expect(s.watches.map((w) => w.resourceVersion)).toEqual(['10', '15', '16']);
    expect(s.lists).toHaveLength(1);
  });

  it('relists with Init after a 410 as the HTTP status of the watch', async () => {
    const s = new Script([page([obj('a', '1')], '10'), page([obj('b', '2')], '20')], [gone(), { events: [], hang: true }]);
    const got = await take(s, 6);
    expect(short(got)).toEqual(['Init', 'InitApply:a', 'InitDone', 'Init', 'InitApply:b', 'InitDone']);
    expect(s.watches.map((w) => w.resourceVersion)).toEqual(['10', '20']);
  });

  it('relists after a 410 ERROR event inside the watch', async () => {
    const expired = ev('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' } as never);
    const s = new Script([page([], '10'), page([obj('b', '2')], '30')], [{ events: [ev('ADDED', obj('a', '11')), expired] }]);
    const got = await take(s, 6);
    expect(short(got)).toEqual(['Init', 'InitDone', 'Apply:a', 'Init', 'InitApply:b', 'InitDone']);
  });

  it('starts the list over when a continue token expired', async () => {
    const s = new Script([page([obj('a', '1')], '10', 'c1'), gone(), page([obj('a', '1'), obj('b', '2')], '12')], []);
    const got = await take(s, 6);
    expect(short(got)).toEqual(['Init', 'InitApply:a', 'Init', 'InitApply:a', 'InitApply:b', 'InitDone']);
    expect(s.lists.map((l) => l.continue)).toEqual([undefined, 'c1', undefined]);
  });

  it('reports a failed page as Error and retries the same page after the backoff', async () => {
    const b = countingBackoff();
    const s = new Script([page([obj('a', '1')], '10', 'c1'), status(500, 'InternalError'), page([obj('b', '2')], '10')], []);
    const got = await take(s, 5, { backoff: b.policy });
    expect(short(got)).toEqual(['Init', 'InitApply:a', 'Error:500', 'InitApply:b', 'InitDone']);
    expect(s.lists.map((l) => l.continue)).toEqual([undefined, 'c1', 'c1']);
    expect(b.calls.next).toBe(1);
  });

  it('treats a list with neither resourceVersion nor continue token as an error and lists again', async () => {
    const s = new Script([{ metadata: {}, items: [obj('a', '1')] }, page([obj('a', '1')], '9')], []);
    const got = await take(s, 6);
    expect(short(got)).toEqual(['Init', 'InitApply:a', 'Error:KubeError', 'Init', 'InitApply:a', 'InitDone']);
    expect((got[2] as { error: Error }).error.message).toContain('neither a resourceVersion nor a continue token');
  });

  it('re-watches from the last resourceVersion after a cut connection or a bad line, reporting each as Error', async () => {
    const b = countingBackoff();
    const s = new Script(
      [page([], '10')],
      [
        { events: [ev('ADDED', obj('a', '11'))], fail: new TransportError('GET x', new Error('socket hang up')) },
        { events: [ev('MODIFIED', obj('a', '12'))], fail: new DecodeError('GET x', 'watch event is not JSON', '{"ty') },
        { events: [], hang: true },
      ],
    );
    const got = await take(s, 6, { backoff: b.policy });
    expect(short(got)).toEqual(['Init', 'InitDone', 'Apply:a', 'Error:TransportError', 'Apply:a', 'Error:DecodeError']);
    expect(s.watches.map((w) => w.resourceVersion)).toEqual(['10', '11', '12']);
    expect(s.lists).toHaveLength(1);
    expect(b.calls.next).toBe(2);
  });

  it('reports an ERROR event with an unknown code as a typed Error and re-watches without relisting', async () => {
    const weird = ev('ERROR', { kind: 'Status', code: 599, reason: 'Mystery', message: 'no idea' } as never);
    const s = new Script([page([], '10')], [{ events: [weird] }, { events: [], hang: true }]);
    const got = await take(s, 3);
    expect(short(got)).toEqual(['Init', 'InitDone', 'Error:599']);
    const err = (got[2] as unknown as { error: ApiError }).error;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.inStream).toBe(true);
    expect(err.reason).toBe('Mystery');
    expect(s.watches.map((w) => w.resourceVersion)).toEqual(['10', '10']);
  });

  it('backs off on every attempt of a persistent 403: one backoff per failed request, never a retry without one', async () => {
    const b = countingBackoff();
    const s = new Script([status(403, 'Forbidden'), status(403, 'Forbidden'), status(403, 'Forbidden'), page([], '1')], []);
    const got = await take(s, 5, { backoff: b.policy });
    expect(short(got)).toEqual(['Error:403', 'Error:403', 'Error:403', 'Init', 'InitDone']);
    expect(b.calls.next).toBe(3);
    expect(s.lists).toHaveLength(4);
  });

  it('waits at least Retry-After before retrying', async () => {
    vi.useFakeTimers();
    try {
      const tooMany = new ApiError('GET x', { kind: 'Status', code: 429 }, { code: 429, retryAfterSeconds: 7 });
      const s = new Script([tooMany, page([], '1')], []);
      const done = take(s, 3);
      await vi.advanceTimersByTimeAsync(6_900);
      expect(s.lists).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(200);
      expect(s.lists).toHaveLength(2);
      expect(short(await done)).toEqual(['Error:429', 'Init', 'InitDone']);
    } finally {
      vi.useRealTimers();
    }
  });

  it('treats a watch that ends at once without any event as a failure (no hot re-watch loop)', async () => {
    const b = countingBackoff();
    const s = new Script([page([], '10')], [{ events: [] }, { events: [] }, { events: [], hang: true }]);
    const got = await take(s, 4, { backoff: b.policy, timeoutSeconds: 290 });
    expect(short(got)).toEqual(['Init', 'InitDone', 'Error:KubeError', 'Error:KubeError']);
    expect(b.calls.next).toBe(2);
  });

  it('stops when its signal aborts, closing the open watch', async () => {
    const s = new Script([page([], '10')], [{ events: [], hang: true }]);
    const ac = new AbortController();
    const seen: string[] = [];
    const run = (async () => {
      for await (const e of watcher(s, { signal: ac.signal, logger: quiet() })) seen.push(e.type);
    })();
    await vi.waitFor(() => expect(s.watches).toHaveLength(1));
    ac.abort();
    await run;
    expect(seen).toEqual(['Init', 'InitDone']);
  });
});

describe('watcher: streaming lists', () => {
  it('emits InitApply for the initial ADDED events and InitDone at the end bookmark, on the same connection', async () => {
    const s = new Script(
      [],
      [
        {
          events: [ev('ADDED', obj('a', '5')), ev('ADDED', obj('b', '6')), bookmark('7'), bookmark('9', true), ev('MODIFIED', obj('a', '10'))],
          hang: true,
        },
      ],
    );
    const got = await take(s, 5, { initialList: 'StreamingList' });
    expect(short(got)).toEqual(['Init', 'InitApply:a', 'InitApply:b', 'InitDone', 'Apply:a']);
    expect(s.watches[0]).toMatchObject({ sendInitialEvents: true, resourceVersionMatch: 'NotOlderThan', resourceVersion: '', allowWatchBookmarks: true });
    expect(s.lists).toHaveLength(0);
  });

  it('does not ask for initial events again when it reconnects', async () => {
    const s = new Script([], [{ events: [ev('ADDED', obj('a', '5')), bookmark('9', true)] }, { events: [ev('MODIFIED', obj('a', '11'))], hang: true }]);
    const got = await take(s, 4, { initialList: 'StreamingList', timeoutSeconds: 0 });
    expect(short(got)).toEqual(['Init', 'InitApply:a', 'InitDone', 'Apply:a']);
    expect(s.watches[1]).toMatchObject({ resourceVersion: '9' });
    expect(s.watches[1]!.sendInitialEvents).toBeUndefined();
  });

  it('falls back to list + watch once, with a log line, when the server refuses streaming lists', async () => {
    const log = quiet();
    const s = new Script([page([obj('a', '1')], '10'), page([obj('a', '1')], '20')], [status(422, 'Invalid'), gone(), { events: [], hang: true }]);
    const got = await take(s, 6, { initialList: 'StreamingList', logger: log });
    expect(short(got)).toEqual(['Init', 'InitApply:a', 'InitDone', 'Init', 'InitApply:a', 'InitDone']);
    expect(s.watches[0]!.sendInitialEvents).toBe(true);
    expect(s.watches.slice(1).every((w) => w.sendInitialEvents === undefined)).toBe(true);
    expect(s.lists).toHaveLength(2);
    expect(log.lines.filter((l) => l.includes('falling back to list + watch'))).toHaveLength(1);
  });

  it('keeps streaming lists after a 404 (a CRD not yet served): backs off and asks again', async () => {
    const log = quiet();
    const s = new Script([], [status(404, 'NotFound'), { events: [ev('ADDED', obj('a', '5')), bookmark('8', true)], hang: true }]);
    const got = await take(s, 4, { initialList: 'StreamingList', logger: log, backoff: () => ({ next: () => 0, reset: () => {} }) });
    expect(short(got)).toEqual(['Error:404', 'Init', 'InitApply:a', 'InitDone']);
    expect(s.watches.map((w) => w.sendInitialEvents)).toEqual([true, true]);
    expect(s.lists).toHaveLength(0);
    expect(log.lines.filter((l) => l.includes('falling back'))).toHaveLength(0);
  });

  it('starts the streaming list over after a failure before the end bookmark', async () => {
    const s = new Script(
      [],
      [
        { events: [ev('ADDED', obj('a', '5'))], fail: new TransportError('x', new Error('reset')) },
        { events: [ev('ADDED', obj('a', '5')), ev('ADDED', obj('b', '6')), bookmark('8', true)], hang: true },
      ],
    );
    const got = await take(s, 7, { initialList: 'StreamingList' });
    expect(short(got)).toEqual(['Init', 'InitApply:a', 'Error:TransportError', 'Init', 'InitApply:a', 'InitApply:b', 'InitDone']);
    expect(s.watches.every((w) => w.sendInitialEvents === true)).toBe(true);
  });
});

describe("watcher: Init comes with a list's first answer", () => {
  it('emits Init with the first page, not for the attempts that failed before it', async () => {
    const s = new Script([status(503, 'ServiceUnavailable'), status(503, 'ServiceUnavailable'), page([obj('a', '1')], '10')], [{ events: [], hang: true }]);
    const got = await take(s, 5);
    expect(short(got)).toEqual(['Error:503', 'Error:503', 'Init', 'InitApply:a', 'InitDone']);
  });

  it('emits Init with the first event of a streaming list, not for attempts that failed before any', async () => {
    const s = new Script(
      [],
      [
        status(503, 'ServiceUnavailable'),
        { events: [], fail: new TransportError('x', new Error('reset')) },
        { events: [ev('ADDED', obj('a', '5')), bookmark('9', true)], hang: true },
      ],
    );
    const got = await take(s, 5, { initialList: 'StreamingList' });
    expect(short(got)).toEqual(['Error:503', 'Error:TransportError', 'Init', 'InitApply:a', 'InitDone']);
  });

  it('emits Init and InitDone for an empty streaming list, at its end bookmark', async () => {
    const s = new Script([], [{ events: [bookmark('9', true)], hang: true }]);
    const got = await take(s, 2, { initialList: 'StreamingList' });
    expect(short(got)).toEqual(['Init', 'InitDone']);
  });
});

describe('watcher: relists never go below the last synced resourceVersion', () => {
  const expiredEvent = () => ev('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 12 (14)' } as never);

  it('with Any: lists at 0 first, then relists after a 410 at the last synced version, NotOlderThan', async () => {
    const s = new Script(
      [page([obj('a', '5')], '10'), page([obj('a', '12')], '20')],
      [{ events: [ev('MODIFIED', obj('a', '12')), bookmark('15'), expiredEvent()] }, { events: [], hang: true }],
    );
    const got = await take(s, 8, { listSemantic: 'Any' });
    expect(short(got)).toEqual(['Init', 'InitApply:a', 'InitDone', 'Apply:a', 'Bookmark:15', 'Init', 'InitApply:a', 'InitDone']);
    expect(s.lists.map((l) => [l.resourceVersion, l.resourceVersionMatch])).toEqual([
      ['0', 'NotOlderThan'],
      ['15', 'NotOlderThan'],
    ]);
    expect(s.watches.map((w) => w.resourceVersion)).toEqual(['10', '20']);
  });

  it('with Any: also starts a list over at the last synced version after its continue token expired', async () => {
    const s = new Script(
      [page([obj('a', '5')], '10'), page([obj('a', '5')], '14', 'c1'), gone(), page([obj('a', '5'), obj('b', '13')], '20')],
      [{ events: [bookmark('12'), expiredEvent()] }],
    );
    await take(s, 10, { listSemantic: 'Any' });
    expect(s.lists.map((l) => [l.resourceVersion, l.continue])).toEqual([
      ['0', undefined],
      ['12', undefined],
      [undefined, 'c1'],
      ['12', undefined],
    ]);
  });

  for (const [what, refusal] of [
    ['too large for the server (a lagging watch cache)', tooLarge],
    ['expired', () => gone()],
  ] as const) {
    it(`with Any: falls back to a quorum read at once when the last synced version is ${what}, then relists at the new version again`, async () => {
      const b = countingBackoff();
      const s = new Script(
        [page([obj('a', '5')], '10'), refusal(), page([obj('a', '16')], '30'), page([obj('a', '16')], '40')],
        [{ events: [bookmark('15'), expiredEvent()] }, { events: [bookmark('35'), expiredEvent()] }, { events: [], hang: true }],
      );
      const got = await take(s, 10, { listSemantic: 'Any', backoff: b.policy });
      expect(short(got)).toEqual(['Init', 'InitApply:a', 'InitDone', 'Bookmark:15', 'Init', 'InitApply:a', 'InitDone', 'Bookmark:35', 'Init', 'InitApply:a']);
      expect(s.lists.map((l) => [l.resourceVersion, l.resourceVersionMatch])).toEqual([
        ['0', 'NotOlderThan'],
        ['15', 'NotOlderThan'],
        [undefined, undefined],
        ['35', 'NotOlderThan'],
      ]);
      // The refusal is the protocol's answer, not a failure: no Error, no backoff.
      expect(b.calls.next).toBe(0);
    });
  }

  it('with Any: refuses a list older than the last synced version (a server that ignored NotOlderThan) and reads at quorum instead', async () => {
    const log = quiet();
    const s = new Script(
      [page([obj('a', '5'), obj('b', '6')], '10'), page([obj('a', '5'), obj('b', '6')], '8'), page([obj('a', '12')], '30')],
      [{ events: [ev('MODIFIED', obj('a', '12')), ev('DELETED', obj('b', '13')), expiredEvent()] }, { events: [], hang: true }],
    );
    const got = await take(s, 8, { listSemantic: 'Any', logger: log });
    // The older list is never emitted: b, deleted at 13, does not come back.
    expect(short(got)).toEqual(['Init', 'InitApply:a', 'InitApply:b', 'InitDone', 'Apply:a', 'Delete:b', 'Init', 'InitApply:a']);
    expect(s.lists.map((l) => l.resourceVersion)).toEqual(['0', '13', undefined]);
    expect(log.lines.filter((l) => l.includes('older than'))).toHaveLength(1);
  });

  it('with Any: takes a list whose version cannot be ordered as it comes (a non-standard server)', async () => {
    const s = new Script(
      [page([obj('a', 'x5')], 'x10'), page([obj('a', 'x12')], 'x9')],
      [{ events: [ev('MODIFIED', obj('a', 'x12')), expiredEvent()] }, { events: [], hang: true }],
    );
    const got = await take(s, 7, { listSemantic: 'Any' });
    expect(short(got)).toEqual(['Init', 'InitApply:a', 'InitDone', 'Apply:a', 'Init', 'InitApply:a', 'InitDone']);
    expect(s.lists.map((l) => l.resourceVersion)).toEqual(['0', 'x12']);
  });

  it('with MostRecent: every list and relist is a quorum read', async () => {
    const s = new Script(
      [page([obj('a', '5')], '10'), page([obj('a', '12')], '20')],
      [{ events: [bookmark('15'), expiredEvent()] }, { events: [], hang: true }],
    );
    await take(s, 7);
    expect(s.lists.map((l) => [l.resourceVersion, l.resourceVersionMatch])).toEqual([
      [undefined, undefined],
      [undefined, undefined],
    ]);
  });

  it('with Any, streaming: asks for initial events at 0, then at the last synced version, and at quorum when that is too large', async () => {
    const s = new Script(
      [],
      [
        { events: [ev('ADDED', obj('a', '5')), bookmark('9', true), bookmark('15'), expiredEvent()] },
        tooLarge(),
        { events: [ev('ADDED', obj('a', '5')), bookmark('30', true)], hang: true },
      ],
    );
    const got = await take(s, 7, { listSemantic: 'Any', initialList: 'StreamingList' });
    expect(short(got)).toEqual(['Init', 'InitApply:a', 'InitDone', 'Bookmark:15', 'Init', 'InitApply:a', 'InitDone']);
    expect(s.watches.map((w) => [w.resourceVersion, w.resourceVersionMatch, w.sendInitialEvents])).toEqual([
      ['0', 'NotOlderThan', true],
      ['15', 'NotOlderThan', true],
      ['', 'NotOlderThan', true],
    ]);
  });
  it('with Any, streaming: starts over at quorum when the end bookmark is older than the version asked for', async () => {
    const log = quiet();
    const s = new Script(
      [],
      [
        { events: [ev('ADDED', obj('a', '5')), bookmark('9', true), bookmark('15'), expiredEvent()] },
        { events: [ev('ADDED', obj('a', '5')), bookmark('8', true)], hang: true },
        { events: [ev('ADDED', obj('a', '16')), bookmark('30', true)], hang: true },
      ],
    );
    const got = await take(s, 9, { listSemantic: 'Any', initialList: 'StreamingList', logger: log });
    // The older stream's objects were never completed by an InitDone: the next Init discards them.
    expect(short(got)).toEqual(['Init', 'InitApply:a', 'InitDone', 'Bookmark:15', 'Init', 'InitApply:a', 'Init', 'InitApply:a', 'InitDone']);
    expect(s.watches.map((w) => w.resourceVersion)).toEqual(['0', '15', '']);
    expect(log.lines.filter((l) => l.includes('older than'))).toHaveLength(1);
  });
});

describe('watcher: a streaming list the server does not finish', () => {
  it('lists instead, for this cycle, when no initial-events-end bookmark comes within initialEventsTimeoutMs', async () => {
    const log = quiet();
    const s = new Script(
      [page([obj('a', '5'), obj('b', '6')], '10')],
      [
        { events: [ev('ADDED', obj('a', '5'))], hang: true },
        { events: [], hang: true },
      ],
    );
    const got = await take(s, 6, { initialList: 'StreamingList', initialEventsTimeoutMs: 50, logger: log });
    expect(short(got)).toEqual(['Init', 'InitApply:a', 'Init', 'InitApply:a', 'InitApply:b', 'InitDone']);
    expect(s.lists).toHaveLength(1);
    expect(s.watches[1]).toMatchObject({ resourceVersion: '10' });
    expect(s.watches[1]!.sendInitialEvents).toBeUndefined();
    expect(log.lines.filter((l) => l.includes('no initial-events-end bookmark'))).toHaveLength(1);
  }, 5_000);

  it('tries a streaming list again at the next relist', async () => {
    const s = new Script(
      [page([obj('a', '5')], '10')],
      [
        { events: [], hang: true },
        { events: [ev('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } as never)] },
        { events: [ev('ADDED', obj('a', '5')), bookmark('20', true)], hang: true },
      ],
    );
    const got = await take(s, 6, { initialList: 'StreamingList', initialEventsTimeoutMs: 50 });
    expect(short(got)).toEqual(['Init', 'InitApply:a', 'InitDone', 'Init', 'InitApply:a', 'InitDone']);
    expect(s.watches.map((w) => w.sendInitialEvents)).toEqual([true, undefined, true]);
  }, 5_000);

  it('counts only the time spent waiting on the server, not the time the consumer takes', async () => {
    const s = new Script([], [{ events: [ev('ADDED', obj('a', '5')), ev('ADDED', obj('b', '6')), bookmark('9', true)], hang: true }]);
    const ac = new AbortController();
    const it = watcher(s, { initialList: 'StreamingList', initialEventsTimeoutMs: 20, backoff: countingBackoff().policy, logger: quiet(), signal: ac.signal });
    const got: WatcherEvent<Obj>[] = [];
    for (let i = 0; i < 4; i++) {
      got.push((await it.next()).value as WatcherEvent<Obj>);
      await new Promise((r) => setTimeout(r, 60));
    }
    ac.abort();
    await it.return(undefined);
    expect(short(got)).toEqual(['Init', 'InitApply:a', 'InitApply:b', 'InitDone']);
    expect(s.lists).toHaveLength(0);
  });

  for (const [what, script] of [
    [
      'a MODIFIED arrives before the end bookmark (the server sent a plain watch)',
      { events: [ev('ADDED', obj('a', '5')), ev('MODIFIED', obj('a', '7'))], hang: true },
    ],
    ['a DELETED arrives before the end bookmark', { events: [ev('ADDED', obj('a', '5')), ev('DELETED', obj('a', '7'))], hang: true }],
    ['the stream ends cleanly before its end bookmark', { events: [ev('ADDED', obj('a', '5'))] }],
  ] as [string, WatchScript][]) {
    it(`lists at once when ${what}`, async () => {
      const log = quiet();
      const s = new Script([page([obj('a', '7')], '10')], [script, { events: [], hang: true }]);
      const got = await take(s, 5, { initialList: 'StreamingList', logger: log });
      expect(short(got)).toEqual(['Init', 'InitApply:a', 'Init', 'InitApply:a', 'InitDone']);
      expect(s.lists).toHaveLength(1);
      expect(log.lines.filter((l) => l.includes('no initial-events-end bookmark'))).toHaveLength(1);
    }, 5_000);
  }
});

describe('watcher: memory', () => {
  it('does not keep the listed objects alive while it waits for the first watch event', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // No watch script: the watch stays silent until the abort, as on a quiet resource.
    const s = new Script([page([obj('a', '1'), obj('b', '2'), obj('c', '3')], '10')], []);
    const ac = new AbortController();
    const it = watcher(s, { backoff: countingBackoff().policy, logger: quiet(), signal: ac.signal });
    const listed: WeakRef<Obj>[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await it.next(); // Init, InitApply ×3, InitDone
      if (!r.done && 'object' in r.value) listed.push(new WeakRef(r.value.object));
    }
    const waiting = it.next();
    await new Promise((r) => setTimeout(r, 10));
    gc();
    // A store would hold these (or their pruned projections); the watcher must not.
    expect(listed.map((ref) => ref.deref())).toEqual([undefined, undefined, undefined]);
    ac.abort();
    await waiting;
  });
});

describe('watchObject', () => {
  it('yields the object, changes, undefined on delete and undefined when absent after a relist', async () => {
    const s = new Script(
      [page([obj('x', '1')], '10'), page([], '30')],
      [
        { events: [ev('MODIFIED', obj('x', '11')), ev('DELETED', obj('x', '12'))], fail: gone() },
        { events: [], hang: true },
      ],
    );
    const ac = new AbortController();
    const seen: (string | undefined)[] = [];
    for await (const o of watchObject(s, 'x', { signal: ac.signal, logger: quiet(), backoff: countingBackoff().policy })) {
      seen.push(o?.metadata.resourceVersion);
      if (seen.length === 4) break;
    }
    ac.abort();
    expect(seen).toEqual(['1', '11', undefined, undefined]);
    expect(s.lists[0]!.fieldSelector).toBe('metadata.name=x');
  });
});

describe('a watch that opens after a failure', () => {
  /** Watches that open (calling `onOpen`, as the Api does once the response head arrives) and then stay quiet. */
  class Opening extends Script {
    override watch(opts: WatchOptions = {}): AsyncIterable<WatchEvent<Obj>> {
      this.watches.push(opts);
      const n = this.watches.length;
      return (async function* () {
        if (n === 1) throw new TransportError('GET /api/v1/configmaps?watch=true', new Error('ECONNRESET'));
        opts.onOpen?.();
        await new Promise<void>((resolve) => opts.signal?.addEventListener('abort', () => resolve()));
      })();
    }
  }

  it('reports a bookmark at the version the cache is at once the server accepts it, though no event comes', async () => {
    const stop = new AbortController();
    const api = new Opening([page([obj('a', '5')], '10')], []);
    const seen: string[] = [];
    for await (const e of watcher(api, { signal: stop.signal, backoff: countingBackoff().policy, logger: quiet() })) {
      seen.push(e.type === 'Bookmark' ? `Bookmark ${e.resourceVersion}` : e.type);
      if (e.type === 'Bookmark') stop.abort();
    }
    expect(seen).toEqual(['Init', 'InitApply', 'InitDone', 'Error', 'Bookmark 10']);
    expect(api.watches.map((w) => w.onOpen !== undefined)).toEqual([false, true]); // asked for only after a failure
  });

  it('says nothing when a watch opens with nothing failing', async () => {
    const stop = new AbortController();
    const api = new Opening([page([obj('a', '5')], '10')], []);
    api.watches.push({}); // the first watch of this source succeeds
    const seen: string[] = [];
    setTimeout(() => stop.abort(), 50);
    for await (const e of watcher(api, { signal: stop.signal, backoff: countingBackoff().policy, logger: quiet() })) seen.push(e.type);
    expect(seen).toEqual(['Init', 'InitApply', 'InitDone']);
  });
});
