/**
 * The field names the runtime carries for every kind's metadata, against the
 * pinned kube-apiserver's OpenAPI (a newer apiserver that adds a field fails
 * here, not in a user's prune), and the close-name suggestion.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { closeNames, OBJECT_META_FIELDS } from './fields.ts';

const ROOT = join(import.meta.dirname, '..', '..');

describe('OBJECT_META_FIELDS', () => {
  const doc = JSON.parse(readFileSync(join(ROOT, 'generator/openapi/v3/api/v1.json'), 'utf8')) as {
    components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
  };
  const fieldsOf = (name: string) => Object.keys(doc.components.schemas[`io.k8s.apimachinery.pkg.apis.meta.v1.${name}`]?.properties ?? {}).sort();

  it.each(Object.keys(OBJECT_META_FIELDS) as (keyof typeof OBJECT_META_FIELDS)[])('%s has the fields of the pinned OpenAPI, sorted', (name) => {
    expect(fieldsOf(name).length).toBeGreaterThan(5);
    expect([...OBJECT_META_FIELDS[name]]).toEqual(fieldsOf(name));
  });
});

describe('closeNames', () => {
  const top = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];

  it('a typing mistake or two away, ignoring case', () => {
    expect(closeNames('spek', top)).toEqual(['spec']);
    expect(closeNames('stauts', top)).toEqual(['status']);
    expect(closeNames('Metadata', top)).toEqual(['metadata']);
    expect(closeNames('apiversion', top)).toEqual(['apiVersion']);
  });

  it('one edit for names of up to five letters, two for longer ones, never more', () => {
    expect(closeNames('sx', top)).toEqual([]);
    expect(closeNames('spxx', top)).toEqual([]);
    expect(closeNames('metaxxta', top)).toEqual(['metadata']);
    expect(closeNames('mexxxata', top)).toEqual([]);
  });

  it('only the closest, at most three', () => {
    expect(closeNames('nam', ['name', 'names', 'nameX'])).toEqual(['name']);
    expect(closeNames('abc', ['abd', 'abe', 'abf', 'abg'])).toEqual(['abd', 'abe', 'abf']);
  });
});
