/**
 * Lazy `managedFields`: parsing a body with each object's
 * `metadata.managedFields` kept as text and parsed on its first read.
 *
 * A cache of whole objects keeps `managedFields` but rarely reads it. The
 * member is cut from the bytes as `managed-fields.ts` cuts it, stored in the
 * compact form of `managed-fields-delta.ts` (its differences from a
 * reference text) in private fields of the metadata object, and put back
 * behind an accessor that parses it when read. After that first read it is
 * an ordinary data property. The object reads, copies, compares and
 * serialises as the fully parsed one does; what differs until the first read
 * (a property descriptor, `util.inspect`) is why this is an option, not the
 * default.
 */
import { DecodeError } from '../core/errors.ts';
import { textWithout } from './json-scan.ts';
import { compact, expand, type Compact } from './managed-fields-delta.ts';
import { findManagedFields, type ManagedFieldsShape } from './managed-fields.ts';

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
    // biome-ignore lint/correctness/noConstructorReturn: returning the target is what makes a subclass's private field land on it.
    return target as Stamp;
  }
}

class LazyManagedFields extends Stamp {
  /** The JSON text in its compact form (`managed-fields-delta.ts`), until the first read. */
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
 * `managed-fields-delta.ts`) and parsed on its first read, after
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
  const cuts = findManagedFields(body, shape, true);
  const value: unknown = JSON.parse(textWithout(body, cuts));
  if (cuts.length === 0 || typeof value !== 'object' || value === null) return value;
  const items = shape === 'list' ? (value as { items?: unknown }).items : undefined;
  for (const cut of cuts) {
    const holder = shape === 'object' ? value : shape === 'event' ? (value as { object?: unknown }).object : Array.isArray(items) ? items[cut.item] : undefined;
    const meta = (holder as { metadata?: unknown } | null | undefined)?.metadata;
    if (typeof meta !== 'object' || meta === null) continue;
    // A second managedFields key (JSON's last one wins) or frozen metadata: nothing to be lazy about.
    if (!Object.hasOwn(meta, 'managedFields') && Object.isExtensible(meta)) LazyManagedFields.attach(meta, compact(body.subarray(cut.valueFrom, cut.valueTo)));
    else (meta as { managedFields?: unknown }).managedFields = JSON.parse(body.toString('utf8', cut.valueFrom, cut.valueTo));
  }
  return value;
}
