/**
 * A compact form for the unparsed `managedFields` text that lazy decoding
 * keeps (see `parseWithLazyManagedFields` in `lazy-managed-fields.ts`).
 *
 * Kept as is, that text costs as much heap as the parsed tree it replaces
 * (6–8 KB of a 14 KB pod). But the `managedFields` of objects of one kind
 * differ from each other in a few places only — a timestamp, a uid, a
 * generated volume name, an IP — so each is stored as the differences from a
 * *reference*: an earlier text kept once for many objects. The encoding is a
 * list of copies (a range of the reference) and literals (new bytes), found
 * by walking both texts side by side; a hash of 8-byte windows of the
 * reference re-aligns the walk after an insertion or deletion. A text that
 * differs from its reference by more than an eighth is kept whole, and, while
 * there is room, becomes a reference itself.
 *
 * References live for the process: at most `MAX_REFERENCES` of them (a few
 * hundred KB), chosen first come, first kept. Texts that match none are simply
 * kept whole, so a poor choice of references costs memory, never correctness.
 *
 * Texts are handled as bytes (UTF-8, as they came) held in one-byte strings
 * (`latin1`: one character per byte), so they count on the JS heap like the
 * objects they stand for.
 */

/** References kept for the process, at most. */
const MAX_REFERENCES = 32;
/** Shortest copy worth its encoding, and the window the re-alignment hash covers. */
const MIN_COPY = 8;
/** Texts shorter than this are kept whole: an encoding saves too little. */
const MIN_TEXT = 256;

/** A reference text, its bytes, and where each 8-byte window first occurs in it. */
interface Reference {
  id: number;
  /** The bytes as a one-byte string. */
  text: string;
  bytes: Buffer;
  windows: Map<number, number>;
}

const references: Reference[] = [];

/** A compact text, one character per byte: a tag (0: the text whole; 1: a delta), then the whole bytes or the reference id and the copies and literals. */
export type Compact = string;

const WHOLE = 0;
const DELTA = 1;
const COPY = 0;
const LITERAL = 1;

function windowHash(b: Uint8Array, i: number): number {
  const lo = b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
  const hi = b[i + 4]! | (b[i + 5]! << 8) | (b[i + 6]! << 16) | (b[i + 7]! << 24);
  return (Math.imul(lo, 0x9e3779b1) ^ hi) & 0x3fffffff;
}

function reference(bytes: Buffer): Reference {
  const windows = new Map<number, number>();
  for (let q = 0; q + MIN_COPY <= bytes.length; q++) {
    const h = windowHash(bytes, q);
    if (!windows.has(h)) windows.set(h, q);
  }
  const own = Buffer.from(bytes);
  return { id: references.length, text: own.toString('latin1'), bytes: own, windows };
}

/** The reference nearest in length to `n` bytes. */
function nearest(n: number): Reference | undefined {
  let best: Reference | undefined;
  for (const r of references) if (!best || Math.abs(r.bytes.length - n) < Math.abs(best.bytes.length - n)) best = r;
  return best;
}

/** The 8-byte windows at `t[i]` and `b[p]` are equal (a hash match can be a collision). */
function same(t: Uint8Array, i: number, b: Uint8Array, p: number): boolean {
  for (let k = 0; k < MIN_COPY; k++) if (t[i + k] !== b[p + k]) return false;
  return true;
}

/** The encoder's scratch output, grown as needed. */
let out = Buffer.allocUnsafe(1 << 16);

function varint(at: number, v: number): number {
  while (v >= 0x80) {
    out[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[at++] = v;
  return at;
}

function literal(at: number, t: Uint8Array, from: number, to: number): number {
  if (to <= from) return at;
  out[at++] = LITERAL;
  at = varint(at, to - from);
  out.set(t.subarray(from, to), at);
  return at + to - from;
}

/** `t` as copies of `r` and literals, or undefined when more than `budget` bytes would be literal. */
function delta(t: Uint8Array, r: Reference, budget: number): Compact | undefined {
  const b = r.bytes;
  const n = t.length;
  const rn = b.length;
  if (out.length < n + 64) out = Buffer.allocUnsafe(2 * n + 64);
  let at = 0;
  out[at++] = DELTA;
  at = varint(at, r.id);
  let i = 0;
  let j = 0;
  let pending = 0; // start of the literal bytes not yet written
  let literals = 0;
  while (i < n) {
    let k = 0;
    while (i + k < n && j + k < rn && t[i + k] === b[j + k]) k++;
    if (k >= MIN_COPY || (k > 0 && i + k === n)) {
      at = literal(at, t, pending, i);
      out[at++] = COPY;
      at = varint(at, j);
      at = varint(at, k);
      i += k;
      j += k;
      pending = i;
      continue;
    }
    if (i + MIN_COPY <= n) {
      const p = r.windows.get(windowHash(t, i));
      if (p !== undefined && p !== j && same(t, i, b, p)) {
        j = p; // re-aligned: the next round copies from here
        continue;
      }
    }
    // Assume a substitution: the byte differs, the texts stay aligned.
    i++;
    j++;
    if (++literals > budget) return undefined;
  }
  at = literal(at, t, pending, n);
  return out.toString('latin1', 0, at);
}

/**
 * The compact form of the UTF-8 bytes `text` (a `managedFields` value).
 *
 * @example
 * const c = compact(body.subarray(from, to)); expand(c) === body.toString('utf8', from, to)
 */
export function compact(text: Uint8Array): Compact {
  if (text.length >= MIN_TEXT) {
    const r = nearest(text.length);
    const encoded = r && delta(text, r, text.length >>> 3);
    if (encoded !== undefined) return encoded;
    if (references.length < MAX_REFERENCES) {
      const added = reference(Buffer.from(text.buffer, text.byteOffset, text.length));
      references.push(added);
      return delta(text, added, 0)!;
    }
  }
  return String.fromCharCode(WHOLE) + Buffer.from(text.buffer, text.byteOffset, text.length).toString('latin1');
}

/** The text (decoded from UTF-8) of a compact form. */
export function expand(c: Compact): string {
  if (c.charCodeAt(0) === WHOLE) return Buffer.from(c.slice(1), 'latin1').toString('utf8');
  let i = 1;
  const read = (): number => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const byte = c.charCodeAt(i++);
      v += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return v;
      shift += 7;
    }
  };
  const r = references[read()]!;
  const parts: string[] = [];
  while (i < c.length) {
    if (c.charCodeAt(i++) === COPY) {
      const from = read();
      parts.push(r.text.slice(from, from + read()));
    } else {
      const length = read();
      parts.push(c.slice(i, i + length));
      i += length;
    }
  }
  return Buffer.from(parts.join(''), 'latin1').toString('utf8');
}
