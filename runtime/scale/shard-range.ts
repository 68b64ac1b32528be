/**
 * Shard ranges: slices of the 64-bit hash space, and the hash that puts an
 * object in one — a 64-bit FNV-1a hash of its uid, the same hash
 * kube-apiserver's sharded list and watch use (KEP-5866,
 * `shardRange(object.metadata.uid, '0x…', '0x…')`). An object's uid never
 * changes, so neither does its range; the shard ring decides which range
 * each replica acts on.
 */
import type { WatcherEvent } from '../core/types.ts';

/** 2^64: the end of the hash space. */
export const HASH_SPACE = 1n << 64n;

/** The 64-bit FNV-1a hash of the UTF-8 bytes of `text`: the hash the server's shard selector uses. */
export function fnv1a64(text: string): bigint {
  let hash = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text, 'utf8')) hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return hash;
}

/** A half-open range [start, end) of the 64-bit hash space. */
export class ShardRange {
  /** [start, end): 0 ≤ start < end ≤ 2^64. @throws RangeError otherwise. */
  constructor(
    /** The first hash in the range. */
    readonly start: bigint,
    /** The first hash after the range. */
    readonly end: bigint,
  ) {
    if (start < 0n || end > HASH_SPACE || start >= end) throw new RangeError(`kubereflect: not a shard range: [${start}, ${end})`);
  }

  /** Range `index` of `count` equal ranges. */
  static of(index: number, count: number): ShardRange {
    return new ShardRange((HASH_SPACE * BigInt(index)) / BigInt(count), (HASH_SPACE * BigInt(index + 1)) / BigInt(count));
  }

  /** True when `uid` hashes into this range. */
  has(uid: string): boolean {
    const h = fnv1a64(uid);
    return h >= this.start && h < this.end;
  }

  /** True when the two ranges share a hash. */
  overlaps(other: ShardRange): boolean {
    return this.start < other.end && other.start < this.end;
  }

  /** True for the same range. */
  equals(other: ShardRange | undefined): boolean {
    return other !== undefined && this.start === other.start && this.end === other.end;
  }

  /** The server's shard selector for this range over `field` (default the uid), for a list or watch. */
  selector(field = 'object.metadata.uid'): string {
    return `shardRange(${field}, '${hex(this.start)}', '${hex(this.end)}')`;
  }

  /** `[0x…, 0x…)`, for messages. */
  toString(): string {
    return `[${hex(this.start)}, ${hex(this.end)})`;
  }

  /** `"0x…-0x…"`: how a Lease publishes it. */
  toJSON(): string {
    return `${hex(this.start)}-${hex(this.end)}`;
  }

  /** The range `toJSON` wrote, or undefined for anything else. */
  static parse(text: unknown): ShardRange | undefined {
    if (typeof text !== 'string') return undefined;
    const m = /^(0x[0-9a-f]+)-(0x[0-9a-f]+)$/.exec(text);
    if (!m) return undefined;
    try {
      return new ShardRange(BigInt(m[1]!), BigInt(m[2]!));
    } catch {
      return undefined;
    }
  }
}

const hex = (n: bigint) => `0x${n.toString(16).padStart(16, '0')}`;

/**
 * The watcher events of the objects whose uid hashes into `range`: the
 * client-side shard filter (a server without sharded watch still sends
 * every object; this keeps the store and the work to the range). An object's
 * uid never changes, so an object never moves in or out of a range.
 */
export async function* inShard<K extends { metadata?: { uid?: string } }>(
  events: AsyncIterable<WatcherEvent<K>>,
  range: ShardRange,
): AsyncGenerator<WatcherEvent<K>> {
  for await (const e of events) {
    if ('object' in e && !range.has(e.object.metadata?.uid ?? '')) continue;
    yield e;
  }
}
