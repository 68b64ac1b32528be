/**
 * applyManifests against the real apiserver: a multi-document manifest (a
 * CRD with list-map keys, a custom resource of it, a ConfigMap without a
 * namespace) parsed with the `yaml` package, applied in one call; what the
 * server stored keeps every `x-kubernetes-*` key; errors name the object.
 */
import { randomBytes } from 'node:crypto';
import { loadAllYaml } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { Api, ApiError, ApplyError, applyManifests, Client, type KubeObject } from '../../runtime/index.ts';
import { testNamespace } from '../support/kube.ts';

const group = `t${randomBytes(4).toString('hex')}.kubereflect.dev`;
const manifest = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gizmos.${group}
spec:
  group: ${group}
  scope: Namespaced
  names: { plural: gizmos, singular: gizmo, kind: Gizmo, listKind: GizmoList }
  versions:
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
                ports:
                  type: array
                  x-kubernetes-list-type: map
                  x-kubernetes-list-map-keys: [name]
                  items:
                    type: object
                    required: [name]
                    properties:
                      name: { type: string }
                      port: { type: integer }
---
apiVersion: ${group}/v1
kind: Gizmo
metadata:
  name: g1
spec:
  ports: [{ name: http, port: 80 }]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: gizmo-settings
data:
  mode: fast
`;

const crds = (client: Client) =>
  new Api<KubeObject & { spec?: unknown }>(client, {
    group: 'apiextensions.k8s.io',
    version: 'v1',
    kind: 'CustomResourceDefinition',
    plural: 'customresourcedefinitions',
    namespaced: false,
  });

describe('applyManifests', () => {
  let client: Client;
  let namespace: string;

  beforeAll(async () => {
    client = Client.fromFile(inject('kube').kubeconfig, { context: 'admin' });
    namespace = await testNamespace('apply');
  });

  afterAll(async () => {
    await crds(client)
      .delete(`gizmos.${group}`)
      .catch(() => undefined);
    client.close();
  });

  it("@kubernetes/client-node's loadAllYaml renames the schema's x-kubernetes keys (why the docs say to parse with yaml)", () => {
    const [crd] = loadAllYaml(manifest) as { spec: { versions: { schema: { openAPIV3Schema: unknown } }[] } }[];
    const ports = JSON.stringify(crd!.spec.versions[0]!.schema.openAPIV3Schema);
    expect(ports).not.toContain('x-kubernetes-list-map-keys');
    expect(ports).toContain('x_kubernetes_list_map_keys');
  });

  it('applies a CRD, a custom resource of it and a core object in one call; the stored CRD keeps its x-kubernetes keys', async () => {
    const objects = parseAllDocuments(manifest).map((d) => d.toJS() as unknown);
    const applied = await applyManifests(client, objects, { fieldManager: 'kubereflect-test', namespace });
    expect(applied.map((a) => `${a.resource.plural}/${a.object.metadata?.name}@${a.object.metadata?.namespace ?? '-'}`)).toEqual([
      `customresourcedefinitions/gizmos.${group}@-`,
      `gizmos/g1@${namespace}`,
      `configmaps/gizmo-settings@${namespace}`,
    ]);
    const stored = JSON.stringify((await crds(client).get(`gizmos.${group}`)).spec);
    expect(stored).toContain('"x-kubernetes-list-map-keys":["name"]');
    expect(stored).toContain('"x-kubernetes-list-type":"map"');

    // Applying the same again changes nothing: the objects keep their resourceVersions (the CRD's moves with
    // its status, which the server's CRD controllers write after the first apply; its generation stays).
    const again = await applyManifests(client, objects, { fieldManager: 'kubereflect-test', namespace });
    expect(again[0]!.object.metadata?.generation).toBe(applied[0]!.object.metadata?.generation);
    expect(again.slice(1).map((a) => a.object.metadata?.resourceVersion)).toEqual(applied.slice(1).map((a) => a.object.metadata?.resourceVersion));
  });

  it('names the object that cannot be applied, and leaves the ones before it applied', async () => {
    const name = `ok-${randomBytes(3).toString('hex')}`;
    const objects = [
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name } },
      { apiVersion: 'v1', kind: 'Gadget', metadata: { name: 'g' } },
    ];
    const err = await applyManifests(client, objects, { fieldManager: 'kubereflect-test', namespace, waitForKindMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplyError);
    expect((err as ApplyError).index).toBe(1);
    expect((err as ApplyError).message).toBe('cannot apply Gadget g (v1, object 2 of 2): the server does not serve kind Gadget in v1');
    const cms = new Api<KubeObject>(client, { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true }, namespace);
    expect((await cms.get(name)).metadata?.name).toBe(name);

    const crdMissing = await applyManifests(client, [{ apiVersion: 'nothing.example.com/v1', kind: 'Thing', metadata: { name: 'x' } }], {
      fieldManager: 'kubereflect-test',
      waitForKindMs: 300,
    }).catch((e: unknown) => e);
    expect((crdMissing as Error).message).toBe(
      'cannot apply Thing x (nothing.example.com/v1, object 1 of 1): the server does not serve kind Thing in nothing.example.com/v1 (is its CustomResourceDefinition installed and established?)',
    );

    const invalid = await applyManifests(client, [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'Not_A_Name' } }], {
      fieldManager: 'kubereflect-test',
      namespace,
    }).catch((e: unknown) => e);
    expect((invalid as ApplyError).cause).toBeInstanceOf(ApiError);
    expect((invalid as Error).message).toMatch(new RegExp(`^cannot apply ConfigMap Not_A_Name \\(v1, object 1 of 1\\) in namespace ${namespace}: .*422`));

    for (const [bad, message] of [
      [null, 'cannot apply object 1: expected an object, got null'],
      [{ kind: 'ConfigMap', metadata: { name: 'x' } }, 'cannot apply object 1: it has no apiVersion'],
      [
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'x-' } },
        'cannot apply object 1 (ConfigMap): it has no metadata.name (server-side apply needs one; generateName is not enough)',
      ],
      [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x', namespace: 'y' } },
        'cannot apply Namespace x (v1, object 1 of 1): kind Namespace is cluster-scoped, but the object names namespace y',
      ],
    ] as const) {
      const e = await applyManifests(client, [bad], { fieldManager: 'kubereflect-test' }).catch((x: unknown) => x);
      expect((e as Error).message).toBe(message);
    }
  });
});
