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
const PATHS: Record<ManagedFieldsShape, readonly PathStep[]> = {
  event: [Buffer.from('object'), Buffer.from('metadata'), MANAGED_FIELDS],
  list: [Buffer.from('items'), 'each', Buffer.from('metadata'), MANAGED_FIELDS],
  object: [Buffer.from('metadata'), MANAGED_FIELDS],
};

/** A byte range to remove: [start, end). */
type Cut = [number, number];

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
 * Walks the value at `i` along `path[depth…]`, appending the ranges to cut.
 * Returns the index just past the value, MALFORMED, or DONE (after the cut,
 * when `once`: the rest need not be scanned, `JSON.parse` reads it anyway).
 */
function walk(b: Buffer, i: number, path: readonly PathStep[], depth: number, cuts: Cut[], once: boolean): number {
  const step = path[depth];
  if (step === undefined) return valueEnd(b, i);
  if (step === 'each') {
    if (b[i] !== OPEN_ARRAY) return valueEnd(b, i);
    let j = skipSpace(b, i + 1);
    if (b[j] === CLOSE_ARRAY) return j + 1;
    for (;;) {
      j = walk(b, j, path, depth + 1, cuts, once);
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
    const match = keyIs(b, keyStart + 1, keyEnd - 1, step);
    const end = match && !last ? walk(b, j, path, depth + 1, cuts, once) : valueEnd(b, j);
    if (end < 0) return end;
    j = skipSpace(b, end);
    const more = b[j] === COMMA;
    if (!more && b[j] !== CLOSE_OBJECT) return MALFORMED;
    if (match && last) {
      // `,"managedFields":[…]` after another member; `"managedFields":[…],` when it comes first.
      if (previousEnd !== -1) cuts.push([previousEnd, end]);
      else cuts.push([keyStart, more ? skipSpace(b, j + 1) : end]);
      if (once) return DONE;
    }
    if (!more) return j + 1;
    previousEnd = end;
    j = skipSpace(b, j + 1);
  }
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
  const cuts: Cut[] = [];
  const start = skipSpace(body, 0);
  if (walk(body, start, PATHS[shape], 0, cuts, shape !== 'list') === MALFORMED || cuts.length === 0) return body.toString('utf8');
  const parts: Buffer[] = [];
  let at = 0;
  for (const [from, to] of cuts) {
    parts.push(body.subarray(at, from));
    at = to;
  }
  parts.push(body.subarray(at));
  return Buffer.concat(parts).toString('utf8');
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
