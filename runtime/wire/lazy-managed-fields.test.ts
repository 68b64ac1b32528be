/**
 * The transparency contract of lazy managedFields: an object decoded with
 * `lazyManagedFields` reads, copies, compares and serialises exactly like the
 * same object parsed in full. What stays observable (a property descriptor
 * and `util.inspect` before the first read) is pinned here too, because it is
 * why the option is not on by default.
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseEventLine } from './decode.ts';
import { DecodeError } from '../core/errors.ts';
import { hasUnreadManagedFields, parseWithLazyManagedFields } from './lazy-managed-fields.ts';
import { store } from '../cache/store.ts';
import { editable, type KubeObject } from '../core/types.ts';

const managedFields = [
  {
    manager: 'kube-controller-manager',
    operation: 'Apply',
    apiVersion: 'v1',
    time: '2025-10-15T09:00:00Z',
    fieldsType: 'FieldsV1',
    fieldsV1: {
      'f:metadata': { 'f:labels': { '.': {}, 'f:app': {}, 'f:ünï': {} } },
      'f:spec': { 'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:image': {} } } },
    },
  },
  {
    manager: 'kubelet',
    operation: 'Update',
    apiVersion: 'v1',
    subresource: 'status',
    time: '2025-10-15T09:00:01Z',
    fieldsType: 'FieldsV1',
    fieldsV1: { 'f:status': { 'f:conditions': { 'k:{"type":"Ready"}': { '.': {}, 'f:status': {} } }, 'f:podIP': {} } },
  },
];

/** A pod as the server writes it: `managedFields` is the last member of `metadata` (ObjectMeta's field order). */
function pod(name = 'web-0') {
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: { name, namespace: 'shop', uid: `uid-${name}`, resourceVersion: '42', labels: { app: 'web' }, managedFields },
    spec: { containers: [{ name: 'app', image: 'web:1' }], emptyMap: {} },
    status: { phase: 'Running' },
  };
}

type Pod = ReturnType<typeof pod> & KubeObject;

const line = (type: string, object: unknown) => Buffer.from(JSON.stringify({ type, object }));
const lazyEvent = (object: unknown = pod()) => parseEventLine<Pod>(line('MODIFIED', object), 'watch pods', { lazyManagedFields: true }).object;
const eagerEvent = (object: unknown = pod()) => parseEventLine<Pod>(line('MODIFIED', object), 'watch pods').object;

describe('lazy managedFields: the transparency contract', () => {
  it('leaves managedFields unparsed until it is read', () => {
    const lazy = lazyEvent();
    expect(hasUnreadManagedFields(lazy.metadata)).toBe(true);
    expect(hasUnreadManagedFields(eagerEvent().metadata)).toBe(false);
    void lazy.metadata.managedFields;
    expect(hasUnreadManagedFields(lazy.metadata)).toBe(false);
  });

  it('reads the same value, the same instance on every read, and becomes a plain data property', () => {
    const lazy = lazyEvent();
    const first = lazy.metadata.managedFields;
    expect(first).toEqual(managedFields);
    expect(lazy.metadata.managedFields).toBe(first);
    expect(Object.getOwnPropertyDescriptor(lazy.metadata, 'managedFields')).toEqual({ value: first, writable: true, enumerable: true, configurable: true });
  });

  it('serialises to the same JSON, before and after the first read', () => {
    const text = JSON.stringify(pod());
    const lazy = lazyEvent();
    expect(JSON.stringify(lazy)).toBe(text);
    expect(JSON.stringify(lazy)).toBe(text);
    expect(JSON.stringify(lazyEvent(), null, 2)).toBe(JSON.stringify(eagerEvent(), null, 2));
  });

  it('has the same keys in the same order, and spreads, assigns and clones to plain data', () => {
    const eager = eagerEvent();
    expect(Object.keys(lazyEvent().metadata)).toEqual(Object.keys(eager.metadata));
    expect(Object.entries(lazyEvent().metadata)).toEqual(Object.entries(eager.metadata));
    for (const copy of [{ ...lazyEvent().metadata }, Object.assign({}, lazyEvent().metadata), structuredClone(lazyEvent().metadata)]) {
      expect(copy).toStrictEqual(eager.metadata);
      expect(hasUnreadManagedFields(copy)).toBe(false);
      expect(Object.getOwnPropertyDescriptor(copy, 'managedFields')?.value).toEqual(managedFields);
    }
    expect(structuredClone(lazyEvent())).toStrictEqual(eager);
    expect(editable(lazyEvent())).toStrictEqual(eager);
  });

  it('is deeply equal to the fully parsed object, either way round', () => {
    expect(lazyEvent()).toEqual(eagerEvent());
    expect(lazyEvent()).toStrictEqual(eagerEvent());
    expect(eagerEvent()).toStrictEqual(lazyEvent());
    expect(lazyEvent()).not.toEqual(eagerEvent({ ...pod(), metadata: { ...pod().metadata, managedFields: [] } }));
  });

  it('can be replaced and deleted like a data property, without being parsed', () => {
    const lazy = lazyEvent();
    lazy.metadata.managedFields = [];
    expect(lazy.metadata.managedFields).toEqual([]);
    expect(hasUnreadManagedFields(lazy.metadata)).toBe(false);
    const other = lazyEvent();
    expect(delete (other.metadata as { managedFields?: unknown }).managedFields).toBe(true);
    expect('managedFields' in other.metadata).toBe(false);
    expect(JSON.stringify(other)).toBe(JSON.stringify({ ...pod(), metadata: { ...pod().metadata, managedFields: undefined } }));
  });

  it('keeps frozen metadata frozen: a read still works, and gives one instance', () => {
    const lazy = lazyEvent();
    Object.freeze(lazy.metadata);
    const first = lazy.metadata.managedFields;
    expect(first).toEqual(managedFields);
    expect(lazy.metadata.managedFields).toBe(first);
    expect(Object.isFrozen(lazy.metadata)).toBe(true);
    expect(() => {
      (lazy.metadata as { managedFields: unknown }).managedFields = [];
    }).toThrow(TypeError);
  });

  it('is stored as it came: the store neither parses it nor changes its frozen, read-only state', () => {
    const { reader, writer } = store<Pod>();
    writer.applyEvent({ type: 'Apply', object: lazyEvent() });
    const stored = reader.get('shop/web-0')!;
    expect(hasUnreadManagedFields(stored.metadata)).toBe(true);
    expect(Object.isFrozen(stored)).toBe(true);
    expect(stored.metadata.managedFields).toEqual(managedFields);
    expect(stored).toStrictEqual(eagerEvent());
  });

  it('decodes list items lazily, each with its own bytes; an item whose managedFields is not last is parsed as usual', () => {
    const notLast = { kind: 'Pod', metadata: { name: 'c', managedFields, uid: 'u' } };
    const list = {
      kind: 'PodList',
      metadata: { resourceVersion: '9' },
      items: [pod('a'), { kind: 'Pod', metadata: { name: 'no-fields' } }, notLast, pod('b')],
    };
    const body = Buffer.from(JSON.stringify(list));
    const parsed = parseWithLazyManagedFields(body, 'list') as { items: Pod[] };
    expect(parsed.items.map((i) => hasUnreadManagedFields(i.metadata))).toEqual([true, false, false, true]);
    expect(Object.keys(parsed.items[2]!.metadata)).toEqual(['name', 'managedFields', 'uid']);
    expect(parsed.items[0]!.metadata.name).toBe('a');
    expect(JSON.stringify(parsed)).toBe(JSON.stringify(list));
    expect(parsed).toStrictEqual(list);
  });

  it('keeps the bytes of multi-byte characters and escapes', () => {
    const tricky = [{ manager: 'ünïcødé ✓ 🚀 "quoted" back\\slash', fieldsV1: { 'f:metadata': { 'f:annotations': { 'f:日本': {}, 'f:a\\"b': {} } } } }];
    const object = { ...pod(), metadata: { ...pod().metadata, managedFields: tricky } };
    expect(lazyEvent(object).metadata.managedFields).toEqual(tricky);
    expect(JSON.stringify(lazyEvent(object))).toBe(JSON.stringify(object));
  });

  it('stays observable in two ways before the first read: the property descriptor and util.inspect', () => {
    // These are why lazyManagedFields is an option and not the default (see docs/memory.md).
    const descriptor = Object.getOwnPropertyDescriptor(lazyEvent().metadata, 'managedFields');
    expect(typeof descriptor?.get).toBe('function');
    expect(inspect(lazyEvent().metadata)).toContain('managedFields: [Getter/Setter]');
    // After a read, inspection is the same as for a parsed object.
    const lazy = lazyEvent();
    void lazy.metadata.managedFields;
    expect(inspect(lazy, { depth: Infinity })).toBe(inspect(eagerEvent(), { depth: Infinity }));
  });

  it('reports bad bytes inside the cut member when it is read, as a DecodeError', () => {
    const bad = Buffer.from('{"type":"ADDED","object":{"metadata":{"name":"a","managedFields":[{"manager":"m",,}]}}}');
    const event = parseEventLine<Pod>(bad, 'watch pods', { lazyManagedFields: true });
    expect(event.object.metadata.name).toBe('a');
    expect(() => event.object.metadata.managedFields).toThrow(DecodeError);
    // Malformed bytes outside it fail at once, as without the option.
    expect(() => parseEventLine(Buffer.from('{"type":"ADDED","object":{"metadata":{"managedFields":[]},}}'), 'w', { lazyManagedFields: true })).toThrow(
      DecodeError,
    );
  });

  it('gives way to stripManagedFields when both are asked for', () => {
    const event = parseEventLine<Pod>(line('ADDED', pod()), 'watch pods', { lazyManagedFields: true, stripManagedFields: true });
    expect('managedFields' in event.object.metadata).toBe(false);
  });
});
