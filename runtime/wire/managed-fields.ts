/**
 * Dropping `metadata.managedFields` before parsing.
 *
 * `managedFields` is a deep tree of tiny objects (`"f:name": {}`) that the
 * server adds to every object for server-side apply; few controllers read
 * it. On a typical pod it is about 40% of the JSON and more than half of the
 * `JSON.parse` time, because many small objects cost more to build than a few
 * big ones. A watcher that drops it anyway (a `prune` or `keep` that does not
 * keep it, or `stripManagedFields: true`) can skip building it altogether:
 * the byte scanner (`json-scan.ts`) finds the member in the raw bytes at its
 * place in the body — `object.metadata.managedFields` in a watch event,
 * `items[*].metadata.managedFields` in a list, `metadata.managedFields` in a
 * single object — and only the rest is parsed. A key named `managedFields`
 * anywhere else is left alone. When the scan does not recognise the layout,
 * nothing is cut and the whole text is parsed, so the outcome is the same
 * either way: `parseWithoutManagedFields` removes whatever the cut missed
 * after parsing.
 */
import { findCuts, memberPath, textWithout, type Cut, type MemberPath } from './json-scan.ts';

/** Where `managedFields` sits in a body: a watch event, a list, or one object. */
export type ManagedFieldsShape = 'event' | 'list' | 'object';

const PATHS: Record<ManagedFieldsShape, MemberPath> = {
  event: memberPath('object', 'metadata', 'managedFields'),
  list: memberPath('items', 'each', 'metadata', 'managedFields'),
  object: memberPath('metadata', 'managedFields'),
};

/**
 * The `managedFields` members of a body of `shape`, as cuts (in a list,
 * `item` says whose); with `lastOnly`, only those that are the last member
 * of their `metadata`. None when the bytes are not recognised.
 */
export function findManagedFields(body: Buffer, shape: ManagedFieldsShape, lastOnly: boolean): Cut[] {
  return findCuts(body, PATHS[shape], lastOnly);
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
  return textWithout(body, findManagedFields(body, shape, false));
}

/** `metadata` without `managedFields` (a copy, so the object keeps fast properties; a `delete` would not). */
function dropFrom(obj: unknown): void {
  if (typeof obj !== 'object' || obj === null) return;
  const holder = obj as { metadata?: unknown };
  const meta = holder.metadata;
  if (typeof meta !== 'object' || meta === null || !Object.hasOwn(meta, 'managedFields')) return;
  const { managedFields: _, ...rest } = meta as { managedFields?: unknown };
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
