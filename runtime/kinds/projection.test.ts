/**
 * The field names a spec may use, checked when `prune`/`keep` is called:
 * from JavaScript or through a cast, a name the kind's top level or its
 * metadata does not have throws a `ProjectionSpecError` naming its path and
 * the close field, while free-form nodes and maps stay unchecked and a kind
 * value without field lists (generated before they existed) checks nothing.
 * Pure logic over the committed generated kinds: no apiserver.
 */
import { describe, expect, it } from 'vitest';
import { ConfigMap } from '../../generated/core/v1/configmap.ts';
import { Pod } from '../../generated/core/v1/pod.ts';
import { Widget as WidgetV1beta1 } from '../../test/generator/generated/fixtures.kubereflect.dev/v1beta1/widget.ts';
import { Widget } from '../../test/generator/generated/fixtures.kubereflect.dev/v1/widget.ts';
import { Pipeline } from '../../test/generator/generated/shapes.kubereflect.dev/v1/pipeline.ts';
import type { Pod as PodType } from '../../generated/core/v1/pod.ts';
import { namespacedKind } from './kind.ts';
import { ProjectionSpecError } from './projection.ts';

const pod: PodType = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web-0', namespace: 'shop', uid: 'u-1', resourceVersion: '42', labels: { app: 'web', tier: 'front' } },
  spec: { containers: [{ name: 'app', image: 'nginx' }] },
  status: { phase: 'Running' },
};

/** The error `fn` throws. */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('did not throw');
}

describe('unknown field names', () => {
  it('at the top level: named with the kind, its fields and the close one', () => {
    const err = thrown(() => Pod.prune({ spek: true } as never));
    expect(err).toBeInstanceOf(ProjectionSpecError);
    expect(err.message).toBe('kubereflect: Pod.prune: spek: not a field of Pod (fields: apiVersion, kind, metadata, spec, status); did you mean spec?');
    expect(() => Pod.keep({ stauts: { phase: true } } as never)).toThrow(
      'kubereflect: Pod.keep: stauts: not a field of Pod (fields: apiVersion, kind, metadata, spec, status); did you mean status?',
    );
    // A kind's own top-level fields, whatever they are (ConfigMap has data, no spec).
    expect(() => ConfigMap.prune({ dat: true } as never)).toThrow(
      /^kubereflect: ConfigMap\.prune: dat: not a field of ConfigMap \(fields: apiVersion, binaryData, data, immutable, kind, metadata\); did you mean data\?$/,
    );
    expect(() => ConfigMap.prune({ spec: true } as never)).toThrow(/ConfigMap\.prune: spec: not a field of ConfigMap/);
  });

  it('in metadata (ObjectMeta), and in its managedFields and ownerReferences entries', () => {
    expect(() => Pod.keep({ metadata: { lables: true } } as never)).toThrow(
      /^kubereflect: Pod\.keep: metadata\.lables: not a field of ObjectMeta \(fields: annotations, creationTimestamp, .*, uid\); did you mean labels\?$/,
    );
    expect(() => Pod.prune({ metadata: { lables: true } } as never)).toThrow(
      /Pod\.prune: metadata\.lables: not a field of ObjectMeta .*did you mean labels\?$/,
    );
    expect(() => Pod.prune({ metadata: { managedFields: { fieldsv1: true } } } as never)).toThrow(
      'kubereflect: Pod.prune: metadata.managedFields.fieldsv1: not a field of ManagedFieldsEntry (fields: apiVersion, fieldsType, fieldsV1, manager, operation, subresource, time); did you mean fieldsV1?',
    );
    expect(() => Pod.keep({ metadata: { ownerReferences: { kin: true } } } as never)).toThrow(
      /Pod\.keep: metadata\.ownerReferences\.kin: not a field of OwnerReference \(fields: apiVersion, blockOwnerDeletion, controller, kind, name, uid\); did you mean kind\?$/,
    );
  });

  it('without a suggestion when no field is close', () => {
    expect(() => Pod.prune({ zzzzzzzz: true } as never)).toThrow(/: zzzzzzzz: not a field of Pod \(fields: apiVersion, kind, metadata, spec, status\)$/);
  });

  it("names Object.prototype's members like any other unknown name", () => {
    expect(() => Pod.prune(JSON.parse('{"__proto__": true}') as never)).toThrow(/Pod\.prune: __proto__: not a field of Pod/);
    expect(() => Pod.prune({ constructor: true } as never)).toThrow(/Pod\.prune: constructor: not a field of Pod/);
    expect(() => Pod.keep({ metadata: { toString: true } } as never)).toThrow(/Pod\.keep: metadata\.toString: not a field of ObjectMeta/);
  });

  it('before what the value says: a wrong name with a wrong value is reported as the name', () => {
    expect(() => Pod.prune({ spek: false } as never)).toThrow(/spek: not a field of Pod/);
    expect(() => Pod.prune({ status: false } as never)).toThrow('kubereflect: Pod.prune: status: expected true or an object of fields, got boolean');
  });
});

describe('what stays unchecked', () => {
  it('below a node that preserves unknown fields: any name', () => {
    // v1beta1 Widget's status is x-kubernetes-preserve-unknown-fields; v1 Widget's spec.settings too.
    const out = WidgetV1beta1.prune({ status: { anything: true } } as never)({ metadata: { name: 'w' }, status: { anything: 1, other: 2 } } as never);
    expect(out).toEqual({ metadata: { name: 'w' }, status: { other: 2 } });
    expect(() => Widget.keep({ spec: { settings: { whatever: { deeper: true } } } } as never)).not.toThrow();
  });

  it('maps: a spec goes into their values, whatever the keys', () => {
    const out = Pod.prune({ metadata: { labels: { tier: true } } } as never)(pod) as unknown as PodType;
    expect(out.metadata?.labels).toEqual({ app: 'web' });
    expect(() => Pipeline.prune({ spec: { stages: { anything: true } } } as never)).not.toThrow();
  });

  it('below the top level of spec and status (the types check those)', () => {
    expect(() => Pod.prune({ spec: { containerz: true } } as never)).not.toThrow();
  });

  it('everything, for a kind value built without field lists (modules generated before them)', () => {
    const Old = namespacedKind<PodType, 'get'>({ apiVersion: 'v1', resource: Pod.resource, shape: [] });
    expect(Old.prune({ spek: true } as never)(pod)).toEqual(pod);
    expect(Old.keep({ metadata: { lables: true } } as never)(pod)).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-0', namespace: 'shop', uid: 'u-1', resourceVersion: '42' },
    });
    // What was checked before still is.
    expect(() => Old.prune({ metadata: { name: true } } as never)).toThrow('kubereflect: Pod.prune: metadata.name: is identity: the cache needs it');
  });

  it('valid specs compile as before', () => {
    expect(Pod.prune({ status: true, metadata: { managedFields: true, labels: true } })(pod)).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-0', namespace: 'shop', uid: 'u-1', resourceVersion: '42' },
      spec: pod.spec,
    });
    expect(Pod.keep({ status: { phase: true }, metadata: { labels: true } })(pod)).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: pod.metadata,
      status: { phase: 'Running' },
    });
  });
});
