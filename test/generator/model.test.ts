/**
 * The model's merging of schemas that several OpenAPI documents define: since
 * Kubernetes 1.35 each group-version document lists on a shared schema (e.g.
 * DeleteOptions) only its own group's `x-kubernetes-group-version-kind`
 * registrations; those are one definition, merged. A real difference is an error.
 */
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../generator/input/load.ts';
import { buildModel } from '../../generator/model/model.ts';

const ID = 'io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions';

function doc(schema: JsonObject): JsonObject {
  return { openapi: '3.0.0', paths: {}, components: { schemas: { [ID]: schema } } };
}

const deleteOptions = (group: string, extra: JsonObject = {}): JsonObject => ({
  type: 'object',
  properties: { dryRun: { type: 'array', items: { type: 'string' } }, ...extra },
  'x-kubernetes-group-version-kind': [{ group: '', kind: 'DeleteOptions', version: 'v1' }, ...(group ? [{ group, kind: 'DeleteOptions', version: 'v1' }] : [])],
});

describe('schemas defined by several documents', () => {
  it('accepts definitions that differ only in their group-version-kind registrations', () => {
    expect(() =>
      buildModel([
        { type: 'openapi', origin: 'api/v1.json', version: 3, doc: doc(deleteOptions('')) },
        { type: 'openapi', origin: 'apis/apps/v1.json', version: 3, doc: doc(deleteOptions('apps')) },
        { type: 'openapi', origin: 'apis/batch/v1.json', version: 3, doc: doc(deleteOptions('batch')) },
      ]),
    ).not.toThrow();
  });

  it('refuses definitions that differ in anything else, naming both documents', () => {
    expect(() =>
      buildModel([
        { type: 'openapi', origin: 'api/v1.json', version: 3, doc: doc(deleteOptions('')) },
        { type: 'openapi', origin: 'apis/apps/v1.json', version: 3, doc: doc(deleteOptions('apps', { extra: { type: 'string' } })) },
      ]),
    ).toThrow(/DeleteOptions is defined differently here and in api\/v1\.json/);
  });
});
