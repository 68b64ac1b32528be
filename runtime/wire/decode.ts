/**
 * Decoding of watch response bodies: newline-delimited JSON, one event a line.
 *
 * Chunk boundaries fall anywhere, including inside a multi-byte UTF-8
 * character, so lines are split on the `\n` byte (which never occurs inside a
 * multi-byte sequence) and only whole lines are turned into text. A line that
 * is not valid UTF-8, not JSON, or not an event is a `DecodeError`, never a
 * silent skip.
 */
import { isUtf8 } from 'node:buffer';
import { DecodeError } from '../core/errors.ts';
import { parseWithLazyManagedFields } from './lazy-managed-fields.ts';
import { parseWithoutManagedFields } from './managed-fields.ts';
import type { WatchEvent } from '../core/types.ts';

const NEWLINE = 0x0a;

/** Options of `parseEventLine` and `decodeWatchEvents`. */
export interface DecodeOptions {
  /** Event objects come without `metadata.managedFields`, cut before parsing (see `parseWithoutManagedFields`). */
  stripManagedFields?: boolean;
  /** Event objects carry `metadata.managedFields` unparsed until read (see `parseWithLazyManagedFields`); `stripManagedFields` wins. */
  lazyManagedFields?: boolean;
}
const EVENT_TYPES = new Set(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']);

/**
 * Splits a byte stream into lines (without the `\n`); a trailing line without
 * a newline is returned too. Empty lines are dropped.
 *
 * @example
 * for await (const line of splitLines(response)) console.log(line.toString());
 */
export async function* splitLines(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  for await (const chunk of chunks) {
    let start = 0;
    let nl = chunk.indexOf(NEWLINE, start);
    while (nl !== -1) {
      let line: Buffer;
      if (pending.length > 0) {
        pending.push(chunk.subarray(start, nl));
        line = Buffer.concat(pending);
        pending = [];
      } else {
        line = chunk.subarray(start, nl);
      }
      if (line.length > 0) yield line;
      start = nl + 1;
      nl = chunk.indexOf(NEWLINE, start);
    }
    if (start < chunk.length) pending.push(chunk.subarray(start));
  }
  if (pending.length > 0) {
    const line = Buffer.concat(pending);
    if (line.length > 0) yield line;
  }
}

/**
 * Parses one line of a watch body into an event.
 * @throws DecodeError when the line is not valid UTF-8, not JSON, or not a watch event.
 */
export function parseEventLine<K>(line: Buffer, request: string, opts: DecodeOptions = {}): WatchEvent<K> {
  if (!isUtf8(line)) {
    throw new DecodeError(request, 'watch event is not valid UTF-8', line.toString('latin1'));
  }
  let event: unknown;
  try {
    event = opts.stripManagedFields
      ? parseWithoutManagedFields(line, 'event')
      : opts.lazyManagedFields
        ? parseWithLazyManagedFields(line, 'event')
        : JSON.parse(line.toString('utf8'));
  } catch (err) {
    throw new DecodeError(request, `watch event is not JSON (${(err as Error).message})`, line.toString('utf8'), err);
  }
  const e = event as { type?: unknown; object?: unknown };
  if (typeof e !== 'object' || e === null || typeof e.type !== 'string' || !EVENT_TYPES.has(e.type)) {
    throw new DecodeError(request, 'watch event has no known type', line.toString('utf8'));
  }
  if (typeof e.object !== 'object' || e.object === null || Array.isArray(e.object)) {
    throw new DecodeError(request, `watch event ${e.type} has no object`, line.toString('utf8'));
  }
  return event as WatchEvent<K>;
}

/**
 * Decodes a watch body into events.
 * @throws DecodeError at the first malformed line; the events before it were yielded.
 */
export async function* decodeWatchEvents<K>(chunks: AsyncIterable<Buffer>, request: string, opts: DecodeOptions = {}): AsyncGenerator<WatchEvent<K>> {
  for await (const line of splitLines(chunks)) yield parseEventLine<K>(line, request, opts);
}

/**
 * Parses one item of a list whose items were left as bytes (`ListOptions.deferItems`).
 * @throws DecodeError when the bytes are not JSON.
 */
export function parseListItem<K>(item: Buffer, request: string, opts: DecodeOptions = {}): K {
  try {
    if (opts.stripManagedFields) return parseWithoutManagedFields(item, 'object') as K;
    if (opts.lazyManagedFields) return parseWithLazyManagedFields(item, 'object') as K;
    return JSON.parse(item.toString('utf8')) as K;
  } catch (err) {
    throw new DecodeError(request, `list item is not JSON (${(err as Error).message})`, item.toString('utf8'), err);
  }
}
