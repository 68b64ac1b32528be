/**
 * A CRD's schema is checked against the rules kube-apiserver applies to it
 * before the generator reads it: a `$ref` (the server says "$ref is not
 * supported") and a structural-schema node without a `type` (the server:
 * "must not be empty for specified object fields") are errors naming the
 * CRD file's line, the version and the schema path, not a type error in
 * generated code. A CRD read from a cluster is what the server already holds:
 * there a node without a type (a schema stored before structural schemas were
 * required) is only a warning.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkCrdSchemas } from '../../generator/input/crd-schema.ts';
import type { GenerateWarning } from '../../generator/errors.ts';
import { runCli, tempDir } from './helpers.ts';

const RUNTIME = './runtime/index.ts';

/** A CRD file whose v1 schema's `spec` has the given properties (YAML, indented for that place). */
function crdFile(specProperties: string, extraVersion = ''): string {
  const file = join(tempDir(), 'backups.yaml');
  writeFileSync(
    file,
    `# a comment, so that lines count from the document's start
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: backups.ops.example.com
spec:
  group: ops.example.com
  scope: Namespaced
  names: { kind: Backup, plural: backups }
  versions:${extraVersion}
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
${specProperties}
`,
  );
  return file;
}

const unserved = `
    - name: v1alpha1
      served: false
      storage: false
      schema:
        openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true }`;

describe('CRD schemas the apiserver refuses', () => {
  it('names the line, version and path of a $ref', async () => {
    const file = crdFile(`                schedule:
                  type: string
                target:
                  $ref: '#/definitions/Target'`);
    const r = await runCli(['generate', '--crd', file, '--out', tempDir(), '--runtime', RUNTIME, '--quiet']);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `kubereflect: error: ${file}:24: version v1 of Backup: spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[target].$ref: ` +
        'a CRD schema cannot use $ref (the apiserver refuses it: "$ref is not supported"); write the referenced schema out in place\n',
    );
  });

  it('finds a $ref inside a validation (anyOf) and counts versions as the server does', async () => {
    const file = crdFile(
      `                size:
                  type: string
                  anyOf:
                    - $ref: '#/definitions/Size'`,
      unserved,
    );
    const r = await runCli(['generate', '--crd', file, '--out', tempDir(), '--runtime', RUNTIME, '--quiet']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /backups\.yaml:29: version v1 of Backup: spec\.versions\[1\]\.schema\.openAPIV3Schema\.properties\[spec\]\.properties\[size\]\.anyOf\[0\]\.\$ref: a CRD schema cannot use \$ref/,
    );
  });

  it('names the line, version and path of a node without a type, at any depth', async () => {
    const file = crdFile(`                schedule:
                  type: string
                retention:
                  description: How long to keep each backup.
                  properties:
                    days: { type: integer }`);
    const r = await runCli(['generate', '--crd', file, '--out', tempDir(), '--runtime', RUNTIME, '--quiet']);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `kubereflect: error: ${file}:23: version v1 of Backup: spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[retention].type: ` +
        'missing: the apiserver refuses a schema node without a type ("must not be empty for specified object fields") ' +
        'unless it sets x-kubernetes-preserve-unknown-fields or x-kubernetes-int-or-string\n',
    );
    const items = crdFile(`                paths:
                  type: array
                  items:
                    description: A path.`);
    const ri = await runCli(['generate', '--crd', items, '--out', tempDir(), '--runtime', RUNTIME, '--quiet']);
    expect(ri.err).toMatch(/backups\.yaml:23: .*properties\[paths\]\.items\.type: missing: .*"must not be empty for specified array items"[^(]*\n$/);
    const several = crdFile(`                a: { description: no type }
                b: { type: array }
                c: { type: string, x-kubernetes-embedded-resource: true }`);
    const rs = await runCli(['generate', '--crd', several, '--out', tempDir(), '--runtime', RUNTIME, '--quiet']);
    expect(rs.err).toMatch(/backups\.yaml:21: .*properties\[a\]\.type: missing: .* \(and 2 more in this version\)\n$/);
  });

  it('names an array without items and an embedded resource that is not an object', async () => {
    const file = crdFile(`                b: { type: array }
                c: { type: string, x-kubernetes-embedded-resource: true }`);
    const r = await runCli(['generate', '--crd', file, '--out', tempDir(), '--runtime', RUNTIME, '--quiet']);
    expect(r.err).toMatch(
      /backups\.yaml:21: .*properties\[b\]\.items: missing: the apiserver refuses an array without items \("must be specified"\) \(and 1 more in this version\)\n$/,
    );
    const embedded = crdFile(`                c: { type: string, x-kubernetes-embedded-resource: true, x-kubernetes-preserve-unknown-fields: true }`);
    const re = await runCli(['generate', '--crd', embedded, '--out', tempDir(), '--runtime', RUNTIME, '--quiet']);
    expect(re.err).toMatch(/backups\.yaml:21: .*properties\[c\]\.type: must be object: .*"must be object if x-kubernetes-embedded-resource is true"\)\n$/);
  });

  it('accepts nodes without a type that preserve unknown fields or are int-or-string, and types them', async () => {
    const out = tempDir();
    const file = crdFile(`                anything:
                  x-kubernetes-preserve-unknown-fields: true
                size:
                  x-kubernetes-int-or-string: true
                  anyOf: [{ type: integer }, { type: string }]`);
    const r = await runCli(['generate', '--crd', file, '--out', out, '--runtime', RUNTIME, '--quiet', '--no-typecheck']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const { readFileSync } = await import('node:fs');
    const types = readFileSync(join(out, 'ops.example.com/v1/types.ts'), 'utf8');
    expect(types).toMatch(/anything\?: unknown;/);
    expect(types).toMatch(/size\?: number \| string;/);
  });

  it('warns, and generates, for a CRD a cluster holds with a node without a type', () => {
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      spec: {
        names: { kind: 'Legacy' },
        versions: [{ name: 'v1', schema: { openAPIV3Schema: { type: 'object', properties: { spec: { properties: {} } } } } }],
      },
    };
    const warnings: GenerateWarning[] = [];
    checkCrdSchemas(crd, 'https://cluster/apis/…/legacies.ops.example.com', { warnings, fromCluster: true });
    expect(warnings).toEqual([
      {
        where: 'https://cluster/apis/…/legacies.ops.example.com',
        message:
          'version v1 of Legacy: spec.versions[0].schema.openAPIV3Schema.properties[spec].type: missing: the apiserver refuses a schema node without a type ("must not be empty for specified object fields") ' +
          'unless it sets x-kubernetes-preserve-unknown-fields or x-kubernetes-int-or-string; generated anyway: the cluster holds this CRD (its schema was stored before structural schemas were required)',
      },
    ]);
    const withRef = structuredClone(crd);
    (withRef.spec.versions[0]!.schema.openAPIV3Schema.properties.spec as Record<string, unknown>) = { $ref: '#/definitions/X' };
    expect(() => checkCrdSchemas(withRef, 'https://cluster/x', { warnings: [], fromCluster: true })).toThrow(
      /^https:\/\/cluster\/x: version v1 of Legacy: .*\.\$ref: a CRD schema cannot use \$ref/,
    );
  });
});
