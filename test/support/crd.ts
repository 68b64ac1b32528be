/** CustomResourceDefinitions the tests make up: a kind in a group of its own, so that a test that removes it disturbs nobody. */
import type { KubeObject } from '../../runtime/index.ts';

/**
 * A namespaced CRD of `kind` (plural `plural`) in `group`, version `v1`
 * served and stored; its `spec` has `properties` (or, without them, keeps
 * whatever it is given).
 */
export function testCrd(group: string, kind: string, plural: string, properties?: Record<string, unknown>): KubeObject {
  const spec = properties ? { type: 'object', properties } : { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      scope: 'Namespaced',
      names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List` },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec } } } }],
    },
  } as KubeObject;
}
