import { describe, expect, it } from 'vitest';
import { parseEventLine } from './decode.ts';
import { DecodeError } from '../core/errors.ts';
import { mulberry32 } from '../../test/support/random.ts';
import { managedFieldsCut, parseWithoutManagedFields, type ManagedFieldsShape } from './managed-fields.ts';

const managedFields = [
  {
    manager: 'kubelet',
    operation: 'Update',
    subresource: 'status',
    time: '2025-10-15T09:00:00Z',
    fieldsType: 'FieldsV1',
    fieldsV1: { 'f:status': { 'f:conditions': { 'k:{"type":"Ready"}': { '.': {}, 'f:status': {} } }, 'f:podIP': {} } },
  },
  { manager: 'back\\slash "quoted" ]}', operation: 'Apply', fieldsV1: { 'f:metadata': { 'f:labels': { 'f:a\\': {} } } } },
];

/** What the result must be: the parsed value with every managedFields at the shape's places removed. */
function reference(value: unknown, shape: ManagedFieldsShape): unknown {
  const copy = structuredClone(value) as Record<string, unknown>;
  const strip = (o: unknown) => {
    const meta = (o as { metadata?: Record<string, unknown> } | null)?.metadata;
    if (meta && typeof meta === 'object') delete meta.managedFields;
  };
  if (shape === 'object') strip(copy);
  if (shape === 'event') strip(copy.object);
  if (shape === 'list' && Array.isArray(copy.items)) copy.items.forEach(strip);
  return copy;
}

function check(value: unknown, shape: ManagedFieldsShape, indent?: number): string {
  const body = Buffer.from(JSON.stringify(value, null, indent), 'utf8');
  const expected = reference(value, shape);
  expect(parseWithoutManagedFields(body, shape)).toEqual(expected);
  // The byte cut alone gets it right: nothing is left for the after-parse removal to do.
  const text = managedFieldsCut(body, shape);
  expect(JSON.parse(text)).toEqual(expected);
  return text;
}

describe('cutting managedFields before parsing', () => {
  it('cuts the member wherever it stands among its siblings: first, middle, last, alone', () => {
    const orders = [{ managedFields, name: 'a', uid: 'u' }, { name: 'a', managedFields, uid: 'u' }, { name: 'a', uid: 'u', managedFields }, { managedFields }];
    for (const metadata of orders) {
      for (const indent of [undefined, 2]) {
        const text = check({ type: 'MODIFIED', object: { kind: 'Pod', metadata, spec: { x: 1 } } }, 'event', indent);
        // The cut happened in the bytes: the text that gets parsed no longer has the member.
        expect(text).not.toContain('managedFields');
        expect(() => JSON.parse(text)).not.toThrow();
      }
    }
  });

  it('leaves a managedFields key anywhere else alone: in a spec, in a label, in an annotation text, in a list item without metadata', () => {
    const object = {
      kind: 'Widget',
      spec: { managedFields: ['mine'], metadata: { managedFields: 'also mine' } },
      metadata: {
        name: 'w',
        labels: { managedFields: 'yes' },
        annotations: { note: '"metadata":{"managedFields":[]}', managedFields: '{}' },
        managedFields,
      },
    };
    const text = check({ type: 'ADDED', object }, 'event');
    const parsed = JSON.parse(text) as { object: typeof object };
    expect(parsed.object.spec).toEqual(object.spec);
    expect(parsed.object.metadata.labels).toEqual(object.metadata.labels);
    expect(parsed.object.metadata.annotations).toEqual(object.metadata.annotations);
    check(
      { kind: 'WidgetList', metadata: { managedFields: 'list metadata is not an item' }, items: [object, { spec: { managedFields: 1 } }, 7, null] },
      'list',
    );
    check({ kind: 'Widget', spec: { metadata: { managedFields: 1 } }, metadata: { managedFields } }, 'object');
  });

  it('cuts it from every item of a list, including first and last, and from one object', () => {
    const items = Array.from({ length: 5 }, (_, i) => ({ kind: 'Pod', metadata: { name: `p${i}`, ...(i % 2 ? {} : { managedFields }) }, status: { n: i } }));
    const text = check({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '9' }, items }, 'list');
    expect(text).not.toContain('managedFields');
    check({ kind: 'PodList', items: [] }, 'list');
    check({ kind: 'Pod', metadata: { name: 'p', managedFields } }, 'object', 4);
  });

  it('keeps strings intact: multi-byte characters, escapes, backslashes before quotes', () => {
    const metadata = { name: 'ünïcødé ✓ 🚀 日本', annotations: { a: 'ends with a backslash \\', b: 'quote \\" inside', c: '\u0000\u001f' }, managedFields };
    const text = check({ type: 'MODIFIED', object: { metadata, data: { 'k\\"': 'v' } } }, 'event');
    expect(text).not.toContain('managedFields');
  });

  it('matches parse-then-delete on random objects (a seeded generator, 2,000 cases)', () => {
    const random = mulberry32(42);
    const rand = (n: number) => Math.floor(random() * n);
    const word = () => ['a', 'managedFields', 'metadata', 'object', 'items', 'x"y', 'b\\', 'ü', '{', ']'][rand(10)]!;
    const value = (depth: number): unknown => {
      switch (depth > 3 ? rand(4) : rand(7)) {
        case 0:
          return rand(1000) - 500;
        case 1:
          return word();
        case 2:
          return [true, false, null][rand(3)];
        case 3:
          return 1.5e-7;
        case 4:
          return Array.from({ length: rand(4) }, () => value(depth + 1));
        default:
          return Object.fromEntries(Array.from({ length: rand(4) }, () => [word(), value(depth + 1)]));
      }
    };
    const meta = () => {
      const entries: [string, unknown][] = Array.from({ length: rand(4) }, () => [word(), value(2)]);
      if (rand(4) > 0) entries.splice(rand(entries.length + 1), 0, ['managedFields', value(1)]);
      return Object.fromEntries(entries);
    };
    const obj = () => ({ ...(value(3) as object), metadata: meta() });
    let cut = 0;
    for (let i = 0; i < 2000; i++) {
      const shape = (['event', 'list', 'object'] as const)[i % 3]!;
      const v = shape === 'event' ? { type: 'MODIFIED', object: obj() } : shape === 'list' ? { items: Array.from({ length: rand(4) }, obj) } : obj();
      const indent = rand(3) === 0 ? 1 : undefined;
      if (check(v, shape, indent).length < JSON.stringify(v, null, indent).length) cut++;
    }
    // Most cases had something to cut (the rest: no managedFields at the shape's place).
    expect(cut).toBeGreaterThan(1000);
  });

  it('falls back to parsing everything when the scan does not recognise the bytes, with the same result', () => {
    // An escaped key is the same key to JSON, but not to a byte scan: nothing is cut, and it is removed after parsing.
    const escaped = Buffer.from('{"type":"ADDED","object":{"metadata":{"name":"a","managed\\u0046ields":[{"manager":"m"}]}}}');
    expect(managedFieldsCut(escaped, 'event')).toBe(escaped.toString());
    expect(parseWithoutManagedFields(escaped, 'event')).toEqual({ type: 'ADDED', object: { metadata: { name: 'a' } } });
    // Malformed and truncated bodies fail exactly as JSON.parse fails.
    for (const bad of ['{"type":"ADDED","object":{"metadata":{"managedFields":[1,2}', '{"object":{"metadata":{"name":"a",', '{"object":', '', 'nul']) {
      expect(() => parseWithoutManagedFields(Buffer.from(bad), 'event'), bad).toThrow(SyntaxError);
    }
    expect(parseWithoutManagedFields(Buffer.from('[1,2]'), 'list')).toEqual([1, 2]);
    expect(parseWithoutManagedFields(Buffer.from('"text"'), 'object')).toBe('text');
  });

  it('gives metadata without managedFields as an own, ordinary object (no delete), keeping the other fields in order', () => {
    const escaped = Buffer.from('{"metadata":{"name":"a","managed\\u0046ields":[],"uid":"u"},"spec":{}}');
    const value = parseWithoutManagedFields(escaped, 'object') as { metadata: object };
    expect(Object.keys(value.metadata)).toEqual(['name', 'uid']);
  });

  it('is what a watch line decodes to with stripManagedFields, and bad lines are still DecodeErrors', () => {
    const line = Buffer.from(JSON.stringify({ type: 'MODIFIED', object: { kind: 'Pod', metadata: { name: 'p', managedFields }, status: {} } }));
    expect(parseEventLine(line, 'watch pods', { stripManagedFields: true })).toEqual({
      type: 'MODIFIED',
      object: { kind: 'Pod', metadata: { name: 'p' }, status: {} },
    });
    expect(parseEventLine(line, 'watch pods')).toMatchObject({ object: { metadata: { managedFields } } });
    for (const bad of ['{"type":"MODIFIED","object":{"metadata":{"managedFields":[}}', '{"type":"NOPE","object":{}}', '{"type":"ADDED"}']) {
      expect(() => parseEventLine(Buffer.from(bad), 'watch pods', { stripManagedFields: true })).toThrow(DecodeError);
    }
    expect(() => parseEventLine(Buffer.from([0x7b, 0xff, 0x7d]), 'watch pods', { stripManagedFields: true })).toThrow(/not valid UTF-8/);
  });
});
