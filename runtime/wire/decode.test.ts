import { describe, expect, it } from 'vitest';
import { decodeWatchEvents, splitLines } from './decode.ts';
import { DecodeError } from '../core/errors.ts';

const events = [
  { type: 'ADDED', object: { metadata: { name: 'a', resourceVersion: '1' }, data: { text: 'héllo wörld — ✓ 🚀' } } },
  { type: 'MODIFIED', object: { metadata: { name: 'b', resourceVersion: '2' }, data: { text: '日本語のテキスト' } } },
  { type: 'BOOKMARK', object: { metadata: { resourceVersion: '3' } } },
  { type: 'DELETED', object: { metadata: { name: 'a', resourceVersion: '4' } } },
];
const body = Buffer.from(`${events.map((e) => JSON.stringify(e)).join('\n')}\n`, 'utf8');

async function* chunks(...parts: Buffer[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield p;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('watch body decoding', () => {
  it('decodes the same events at every single split point of the body, including inside multi-byte characters', async () => {
    for (let cut = 0; cut <= body.length; cut++) {
      const got = await collect(decodeWatchEvents(chunks(body.subarray(0, cut), body.subarray(cut)), 'test'));
      expect(got, `split at byte ${cut}`).toEqual(events);
    }
  });

  it('decodes at every pair of split points (three chunks)', async () => {
    for (let a = 0; a <= body.length; a += 7) {
      for (let b = a; b <= body.length; b += 5) {
        const got = await collect(decodeWatchEvents(chunks(body.subarray(0, a), body.subarray(a, b), body.subarray(b)), 't'));
        expect(got).toEqual(events);
      }
    }
  });

  it('decodes an event spread over one-byte chunks, and many events in one chunk', async () => {
    const bytes = [...body].map((b) => Buffer.from([b]));
    expect(await collect(decodeWatchEvents(chunks(...bytes), 't'))).toEqual(events);
    expect(await collect(decodeWatchEvents(chunks(body), 't'))).toEqual(events);
  });

  it('keeps a last line that has no newline, and drops empty lines', async () => {
    const lines = await collect(splitLines(chunks(Buffer.from('a\n\nb\n'), Buffer.from('c'))));
    expect(lines.map((l) => l.toString())).toEqual(['a', 'b', 'c']);
  });

  it('turns a malformed line into a DecodeError after yielding the good events before it', async () => {
    const bad = Buffer.concat([Buffer.from(`${JSON.stringify(events[0])}\n`), Buffer.from('{"type":"ADDED","object":{"metadata"\n')]);
    const got: unknown[] = [];
    const err = await (async () => {
      for await (const e of decodeWatchEvents(chunks(bad), 'GET /api/v1/pods?watch=true')) got.push(e);
    })().catch((e: unknown) => e);
    expect(got).toEqual([events[0]]);
    expect(err).toBeInstanceOf(DecodeError);
    expect((err as DecodeError).message).toContain('GET /api/v1/pods?watch=true');
    expect((err as DecodeError).message).toContain('not JSON');
  });

  it('rejects invalid UTF-8, lines without a known type, and events without an object', async () => {
    const cases: [Buffer, string][] = [
      [Buffer.concat([Buffer.from('{"type":"ADDED","object":{"x":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}}\n')]), 'not valid UTF-8'],
      [Buffer.from('{"type":"SURPRISE","object":{}}\n'), 'no known type'],
      [Buffer.from('["ADDED"]\n'), 'no known type'],
      [Buffer.from('{"type":"ADDED","object":null}\n'), 'has no object'],
      [Buffer.from('{"type":"ADDED","object":[1]}\n'), 'has no object'],
    ];
    for (const [line, problem] of cases) {
      const err = await collect(decodeWatchEvents(chunks(line), 't')).catch((e: unknown) => e);
      expect(err, problem).toBeInstanceOf(DecodeError);
      expect((err as Error).message).toContain(problem);
    }
  });

  it('quotes too little of a bad line to leak the data of a Secret', async () => {
    const line = Buffer.from('{"type":"ADDED","object":{"kind":"Secret","apiVersion":"v1","metadata":{"name":"db"},"data":{"password":"c2VjcmV0LXZhbHVl"}\n');
    const err = (await collect(decodeWatchEvents(chunks(line), 't')).catch((e: unknown) => e)) as DecodeError;
    expect(err).toBeInstanceOf(DecodeError);
    expect(err.message).toContain('"kind\\":\\"Secret');
    expect(err.message).not.toContain('c2VjcmV0');
  });

  it('shortens what it quotes of a huge bad line', async () => {
    const huge = Buffer.from(`{"type":"ADDED","object":{"data":"${'x'.repeat(100_000)}"`);
    const err = (await collect(decodeWatchEvents(chunks(huge), 't')).catch((e: unknown) => e)) as DecodeError;
    expect(err).toBeInstanceOf(DecodeError);
    expect(err.excerpt.length).toBeLessThanOrEqual(81);
    expect(err.message.length).toBeLessThan(400);
  });
});
