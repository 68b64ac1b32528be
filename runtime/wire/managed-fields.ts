/**
 * Dropping `metadata.managedFields` before parsing.
 *
 * `managedFields` is a deep tree of tiny objects (`"f:name": {}`) that the
 * server adds to every object for server-side apply; few controllers read
 * it. On a typical pod it is about 40% of the JSON and more than half of the
 * `JSON.parse` time, because many small objects cost more to build than a few
 * big ones. A watcher that drops it anyway (a `prune` or `keep` that does not
 * keep it, or `stripManagedFields: true`) can skip building it altogether:
 * the scanner here finds the member in the raw bytes and cuts it out, and
 * only the rest is parsed.
 *
 * The scanner follows one path (`object.metadata.managedFields` in a watch
 * event, `items[*].metadata.managedFields` in a list, `metadata.managedFields`
 * in a single object), steps over everything else value by value (strings
 * with their escapes, nested brackets), and never looks inside a value it
 * does not descend into, so a key named `managedFields` elsewhere (in a
 * spec, or in an annotation's text) is left alone. It is not a validator:
 * the bytes of the cut member are not checked beyond their brackets and
 * strings. When the scan does not recognise the layout (malformed bytes, an
 * escaped key), nothing is cut and the whole text is parsed, so the
 * outcome is the same either way — `parseWithoutManagedFields` removes whatever
 * the cut missed after parsing.
 */

import { DecodeError } from '../core/errors.ts';
import { compact, expand, type Compact } from './managed-fields-delta.ts';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

/** Where `managedFields` sits in a body: a watch event, a list, or one object. */
export type ManagedFieldsShape = 'event' | 'list' | 'object';

/** One step of a path: an object member, or every element of an array. */
type PathStep = Buffer | 'each';

const MANAGED_FIELDS = Buffer.from('managedFields');
const ITEMS = Buffer.from('items');
const PATHS: Record<ManagedFieldsShape, readonly PathStep[]> = {
  event: [Buffer.from('object'), Buffer.from('metadata'), MANAGED_FIELDS],
  list: [Buffer.from('items'), 'each', Buffer.from('metadata'), MANAGED_FIELDS],
  object: [Buffer.from('metadata'), MANAGED_FIELDS],
};

/**
 * A member to remove: bytes [from, to), which hold its value at [valueFrom,
 * valueTo); `item` is the list item it belongs to (0 outside lists).
 */
interface Cut {
  from: number;
  to: number;
  valueFrom: number;
  valueTo: number;
  item: number;
}

/** What a scan collects, and how. */
interface Scan {
  cuts: Cut[];
  /** A single-object shape has one member to cut: stop once it is found. */
  once: boolean;
  /** Cut the member only when it is the last of its object (a lazy property goes back in the same place). */
  lastOnly: boolean;
  /** The index of the list item being scanned. */
  item: number;
}

/** The scan stopped: malformed or truncated bytes. */
const MALFORMED = -1;
/** The scan stopped early: the one member a single-object shape has was found and cut. */
const DONE = -2;

function isSpace(c: number | undefined): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function skipSpace(b: Buffer, i: number): number {
  while (isSpace(b[i])) i++;
  return i;
}

/** Just past the string whose opening quote is at `i`. */
function stringEnd(b: Buffer, i: number): number {
  const n = b.length;
  for (let j = i + 1; j < n; j++) {
    const c = b[j];
    if (c === BACKSLASH) j++;
    else if (c === QUOTE) return j + 1;
  }
  return MALFORMED;
}

/** Just past the value that starts at `i` (no leading space). */
function valueEnd(b: Buffer, i: number): number {
  const n = b.length;
  const first = b[i];
  if (first === QUOTE) return stringEnd(b, i);
  if (first === OPEN_OBJECT || first === OPEN_ARRAY) {
    let depth = 0;
    for (let j = i; j < n; j++) {
      const c = b[j];
      if (c === QUOTE) {
        const end = stringEnd(b, j);
        if (end === MALFORMED) return MALFORMED;
        j = end - 1;
      } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        depth++;
      } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
        if (--depth === 0) return j + 1;
      }
    }
    return MALFORMED;
  }
  // A number, true, false or null: up to the next delimiter.
  let j = i;
  while (j < n) {
    const c = b[j];
    if (c === COMMA || c === CLOSE_OBJECT || c === CLOSE_ARRAY || isSpace(c)) break;
    j++;
  }
  return j > i ? j : MALFORMED;
}

function keyIs(b: Buffer, start: number, end: number, key: Buffer): boolean {
  return end - start === key.length && b.compare(key, 0, key.length, start, end) === 0;
}

/**
 * Walks the value at `i` along `path[depth…]`, collecting the members to cut
 * into `scan`. Returns the index just past the value, MALFORMED, or DONE
 * (after the cut, when `scan.once`: the rest need not be scanned, `JSON.parse`
 * reads it anyway).
 */
function walk(b: Buffer, i: number, path: readonly PathStep[], depth: number, scan: Scan): number {
  const step = path[depth];
  if (step === undefined) return valueEnd(b, i);
  if (step === 'each') {
    if (b[i] !== OPEN_ARRAY) return valueEnd(b, i);
    let j = skipSpace(b, i + 1);
    if (b[j] === CLOSE_ARRAY) return j + 1;
    for (scan.item = 0; ; scan.item++) {
      j = walk(b, j, path, depth + 1, scan);
      if (j < 0) return j;
      j = skipSpace(b, j);
      if (b[j] === CLOSE_ARRAY) return j + 1;
      if (b[j] !== COMMA) return MALFORMED;
      j = skipSpace(b, j + 1);
    }
  }
  if (b[i] !== OPEN_OBJECT) return valueEnd(b, i);
  const last = depth === path.length - 1;
  let j = skipSpace(b, i + 1);
  if (b[j] === CLOSE_OBJECT) return j + 1;
  // End of the previous member's value: a cut of a later member starts there, taking its comma along.
  let previousEnd = -1;
  for (;;) {
    if (b[j] !== QUOTE) return MALFORMED;
    const keyStart = j;
    const keyEnd = stringEnd(b, j);
    if (keyEnd === MALFORMED) return MALFORMED;
    j = skipSpace(b, keyEnd);
    if (b[j] !== COLON) return MALFORMED;
    j = skipSpace(b, j + 1);
    const valueFrom = j;
    const match = keyIs(b, keyStart + 1, keyEnd - 1, step);
    const end = match && !last ? walk(b, j, path, depth + 1, scan) : valueEnd(b, j);
    if (end < 0) return end;
    j = skipSpace(b, end);
    const more = b[j] === COMMA;
    if (!more && b[j] !== CLOSE_OBJECT) return MALFORMED;
    if (match && last && !(more && scan.lastOnly)) {
      // `,"managedFields":[…]` after another member; `"managedFields":[…],` when it comes first.
      const cut = { valueFrom, valueTo: end, item: scan.item };
      if (previousEnd !== -1) scan.cuts.push({ from: previousEnd, to: end, ...cut });
      else scan.cuts.push({ from: keyStart, to: more ? skipSpace(b, j + 1) : end, ...cut });
      if (scan.once) return DONE;
    }
    if (!more) return j + 1;
    previousEnd = end;
    j = skipSpace(b, j + 1);
  }
}

/** Scans `body` for the members to cut; none when the bytes are not recognised. */
function scan(body: Buffer, shape: ManagedFieldsShape, lastOnly: boolean): Cut[] {
  const s: Scan = { cuts: [], once: shape !== 'list', lastOnly, item: 0 };
  return walk(body, skipSpace(body, 0), PATHS[shape], 0, s) === MALFORMED ? [] : s.cuts;
}

/**
 * The text of `body` without the `cuts`. Decoded piece by piece and joined
 * as strings: a `Buffer.concat` allocates a new backing store per event
 * (outside V8's heap, above the Buffer pool's size), and with 50,000 pods in
 * the heap that allocation cost more than the parse itself (measured: lazy
 * decoding went from 964 to 2,851 events/s).
 */
function without(body: Buffer, cuts: readonly Cut[]): string {
  if (cuts.length === 0) return body.toString('utf8');
  let text = '';
  let at = 0;
  for (const cut of cuts) {
    text += body.toString('utf8', at, cut.from);
    at = cut.to;
  }
  return text + body.toString('utf8', at);
}

/**
 * The text of a JSON body with its `managedFields` member(s) cut out, where
 * `shape` says they are. `body` must already be known to be UTF-8 (cuts fall
 * on ASCII delimiters, never inside a character). Unrecognised bytes give
 * the whole text, uncut.
 *
 * @example
 * const text = managedFieldsCut(Buffer.from('{"metadata":{"name":"a","managedFields":[]}}'), 'object');
 * // '{"metadata":{"name":"a"}}'
 */
export function managedFieldsCut(body: Buffer, shape: ManagedFieldsShape): string {
  return without(body, scan(body, shape, false));
}

type Meta = { managedFields?: unknown };

/** `metadata` without `managedFields` (a copy, so the object keeps fast properties; a `delete` would not). */
function dropFrom(obj: unknown): void {
  if (typeof obj !== 'object' || obj === null) return;
  const holder = obj as { metadata?: unknown };
  const meta = holder.metadata;
  if (typeof meta !== 'object' || meta === null || !Object.hasOwn(meta, 'managedFields')) return;
  const { managedFields: _, ...rest } = meta as Meta;
  holder.metadata = rest;
}

/**
 * Parses a JSON body of `shape` without its `managedFields`: cut from the
 * bytes when the scan finds them (they are never built), removed after
 * parsing otherwise. Throws what `JSON.parse` throws.
 *
 * @example
 * const list = parseWithoutManagedFields(body, 'list') as PodList; // no item has metadata.managedFields
 */
export function parseWithoutManagedFields(body: Buffer, shape: ManagedFieldsShape): unknown {
  const value: unknown = JSON.parse(managedFieldsCut(body, shape));
  if (typeof value !== 'object' || value === null) return value;
  if (shape === 'object') dropFrom(value);
  else if (shape === 'event') dropFrom((value as { object?: unknown }).object);
  else {
    const items = (value as { items?: unknown }).items;
    if (Array.isArray(items)) for (const item of items) dropFrom(item);
  }
  return value;
}

// ---- lazy managedFields ----

/**
 * Holds the text of a `managedFields` that has not been read yet, in private
 * fields stamped onto the metadata object itself: a class constructor that
 * returns another object makes a subclass install its private fields on that
 * object. Private fields are invisible to every reflection API (`Object.keys`,
 * `Reflect.ownKeys`, spread, `structuredClone`, `util.inspect`), unlike a
 * symbol, and cost one slot each, unlike a `WeakMap` entry.
 */
class Stamp {
  constructor(target: object) {
    return target as Stamp;
  }
}

class LazyManagedFields extends Stamp {
  /** The JSON text in its compact form (`managed-fields-codec.ts`), until the first read. */
  #text: Compact | undefined;
  /** The parsed value, kept here only when the metadata could not take it back as a data property (frozen). */
  #value: unknown;

  private constructor(meta: object, text: Compact) {
    super(meta);
    this.#text = text;
  }

  static attach(meta: object, text: Compact): void {
    new LazyManagedFields(meta, text);
    Object.defineProperty(meta, 'managedFields', ACCESSOR);
  }

  static unread(meta: object): boolean {
    return #text in meta && meta.#text !== undefined;
  }

  static read(meta: object): unknown {
    if (!(#text in meta)) return undefined;
    const compacted = meta.#text;
    if (compacted === undefined) return meta.#value;
    const text = expand(compacted);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new DecodeError('metadata.managedFields', `managedFields is not JSON (${(err as Error).message})`, text, err);
    }
    meta.#text = undefined;
    // From now on an ordinary data property; frozen metadata cannot take it, so the value is kept here.
    if (!Reflect.defineProperty(meta, 'managedFields', dataProperty(value))) meta.#value = value;
    return value;
  }

  static write(meta: object, value: unknown): void {
    if (!Reflect.defineProperty(meta, 'managedFields', dataProperty(value))) {
      throw new TypeError("Cannot assign to read only property 'managedFields' of object");
    }
    if (#text in meta) {
      meta.#text = undefined;
      meta.#value = undefined;
    }
  }
}

const dataProperty = (value: unknown): PropertyDescriptor => ({ value, writable: true, enumerable: true, configurable: true });

/** One accessor pair for every lazy metadata object, so that they all share their hidden classes. */
const ACCESSOR: PropertyDescriptor = {
  get(this: object) {
    return LazyManagedFields.read(this);
  },
  set(this: object, value: unknown) {
    LazyManagedFields.write(this, value);
  },
  enumerable: true,
  configurable: true,
};

/**
 * True when `meta.managedFields` is still the unparsed text a lazy decode
 * left there (reading it parses it).
 * @internal for the store, which must not read it
 */
export function hasUnreadManagedFields(meta: unknown): boolean {
  return typeof meta === 'object' && meta !== null && LazyManagedFields.unread(meta);
}

/**
 * Parses a JSON body of `shape` with its `managedFields` left unparsed: each
 * is cut from the bytes, kept as text (compacted: see
 * `managed-fields-codec.ts`) and parsed on its first read, after
 * which it is an ordinary data property. Reads, `JSON.stringify`, spread,
 * `Object.keys`, `structuredClone` and deep equality see the same object as
 * `JSON.parse` makes; a property descriptor and `util.inspect` show an
 * accessor until the first read. A member that is not the last of its
 * `metadata` (the server always writes it last) is parsed as usual, so the
 * key order never changes. Throws what `JSON.parse` throws; bad bytes inside
 * a cut member throw `DecodeError` when it is read.
 *
 * @example
 * const event = parseWithLazyManagedFields(line, 'event') as { object: Pod };
 * event.object.metadata.name; // managedFields not parsed yet
 */
export function parseWithLazyManagedFields(body: Buffer, shape: ManagedFieldsShape): unknown {
  const cuts = scan(body, shape, true);
  const value: unknown = JSON.parse(without(body, cuts));
  if (cuts.length === 0 || typeof value !== 'object' || value === null) return value;
  const items = shape === 'list' ? (value as { items?: unknown }).items : undefined;
  for (const cut of cuts) {
    const holder = shape === 'object' ? value : shape === 'event' ? (value as { object?: unknown }).object : Array.isArray(items) ? items[cut.item] : undefined;
    const meta = (holder as { metadata?: unknown } | null | undefined)?.metadata;
    if (typeof meta !== 'object' || meta === null) continue;
    // A second managedFields key (JSON's last one wins) or frozen metadata: nothing to be lazy about.
    if (!Object.hasOwn(meta, 'managedFields') && Object.isExtensible(meta)) LazyManagedFields.attach(meta, compact(body.subarray(cut.valueFrom, cut.valueTo)));
    else (meta as Meta).managedFields = JSON.parse(body.toString('utf8', cut.valueFrom, cut.valueTo));
  }
  return value;
}

// ---- list items one by one ----

/**
 * A list body cut into its envelope (the text of the list without its items:
 * `kind`, `metadata` with the continue token and resourceVersion) and the
 * bytes of each item, so that items can be parsed one at a time as they are
 * consumed instead of all at once: a page of 500 parsed pods is a quarter of
 * a 2,000-pod store. Undefined when the bytes are not a recognisable list
 * object (then parse it whole).
 *
 * @example
 * const { envelope, items } = splitList(Buffer.from('{"metadata":{},"items":[{"a":1},{"b":2}]}'))!;
 * // envelope '{"metadata":{},"items":[]}', items: the bytes of {"a":1} and {"b":2}
 */
export function splitList(body: Buffer): { envelope: string; items: Buffer[] } | undefined {
  let j = skipSpace(body, 0);
  if (body[j] !== OPEN_OBJECT) return undefined;
  j = skipSpace(body, j + 1);
  if (body[j] === CLOSE_OBJECT) return { envelope: body.toString('utf8'), items: [] };
  const items: Buffer[] = [];
  let inner: [number, number] | undefined;
  for (;;) {
    if (body[j] !== QUOTE) return undefined;
    const keyStart = j;
    const keyEnd = stringEnd(body, j);
    if (keyEnd === MALFORMED) return undefined;
    j = skipSpace(body, keyEnd);
    if (body[j] !== COLON) return undefined;
    j = skipSpace(body, j + 1);
    let end: number;
    if (inner === undefined && keyIs(body, keyStart + 1, keyEnd - 1, ITEMS) && body[j] === OPEN_ARRAY) {
      const from = j + 1;
      let k = skipSpace(body, from);
      while (body[k] !== CLOSE_ARRAY) {
        const itemEnd = valueEnd(body, k);
        if (itemEnd === MALFORMED) return undefined;
        items.push(body.subarray(k, itemEnd));
        k = skipSpace(body, itemEnd);
        if (body[k] === COMMA) k = skipSpace(body, k + 1);
        else if (body[k] !== CLOSE_ARRAY) return undefined;
      }
      inner = [from, k];
      end = k + 1;
    } else {
      end = valueEnd(body, j);
      if (end === MALFORMED) return undefined;
    }
    j = skipSpace(body, end);
    if (body[j] === CLOSE_OBJECT) break;
    if (body[j] !== COMMA) return undefined;
    j = skipSpace(body, j + 1);
  }
  if (skipSpace(body, j + 1) !== body.length) return undefined;
  const envelope = inner ? body.toString('utf8', 0, inner[0]) + body.toString('utf8', inner[1]) : body.toString('utf8');
  return { envelope, items };
}

