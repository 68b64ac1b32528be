/**
 * Pruning of a generated kind, typed and at run time: the accepted and the
 * rejected specs (`@ts-expect-error` lines are checked by `tsc` in `npm test`),
 * the result types, and the objects the compiled projections build (deeper
 * specs: deep-prune.test.ts).
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { Pod } from '../../generated/core/v1/pod.ts';
import { Node } from '../../generated/core/v1/node.ts';
import { Deployment } from '../../generated/apps/v1/deployment.ts';
import type { ObjectMeta } from '../../generated/meta/v1/types.ts';
import type { Kept, Pruned } from '../../runtime/kind.ts';
import { castEditable, ProjectionSpecError } from '../../runtime/index.ts';
import { store } from '../../runtime/cache.ts';

const pod: Pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'web-0',
    namespace: 'shop',
    uid: 'u-1',
    resourceVersion: '42',
    generation: 3,
    labels: { app: 'web' },
    annotations: { big: 'x'.repeat(100) },
    managedFields: [{ manager: 'kubectl', operation: 'Apply' }],
  },
  spec: { nodeName: 'worker-1', containers: [{ name: 'app', image: 'nginx' }], restartPolicy: 'Always' },
  status: { phase: 'Running', podIP: '10.0.0.1' },
};

describe('Pod.prune', () => {
  const slim = Pod.prune({ status: true, metadata: { managedFields: true, annotations: true } });
  type Slim = ReturnType<typeof slim>;

  it('types the result without the pruned fields', () => {
    expectTypeOf<Slim>().not.toHaveProperty('status');
    expectTypeOf<Slim>().toHaveProperty('spec');
    expectTypeOf<NonNullable<Slim['metadata']>>().not.toHaveProperty('managedFields');
    expectTypeOf<NonNullable<Slim['metadata']>>().not.toHaveProperty('annotations');
    expectTypeOf<NonNullable<Slim['metadata']>>().toHaveProperty('labels').toEqualTypeOf<{ [key: string]: string } | undefined>();
    expectTypeOf<Slim['spec']>().toEqualTypeOf<Pod['spec']>();
    const out = slim(pod);
    // @ts-expect-error status was pruned
    void out.status;
    // @ts-expect-error metadata.managedFields was pruned
    void out.metadata?.managedFields;
  });

  it('builds a new object without the pruned fields and shares the rest', () => {
    const out = slim(pod);
    expect(out).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-0', namespace: 'shop', uid: 'u-1', resourceVersion: '42', generation: 3, labels: { app: 'web' } },
      spec: pod.spec,
    });
    expect('status' in out).toBe(false);
    expect(out.spec).toBe(pod.spec); // not pruned into: shared, not copied
    expect(out.metadata).not.toBe(pod.metadata);
    expect(pod.metadata?.managedFields).toHaveLength(1); // the input is left alone
    expect(pod.status?.phase).toBe('Running');
  });

  it('keeps every field it does not name, including fields the schema does not declare', () => {
    // What a newer server may send, which these generated types do not know.
    const newer = {
      ...pod,
      futureTopLevel: { x: 1 },
      metadata: { ...pod.metadata, futureMeta: 'm', __proto__: 'own' },
      spec: { ...pod.spec, futureSpec: true },
      status: { ...pod.status, futureStatus: [1, 2] },
    } as unknown as Pod;
    Object.defineProperty(newer.metadata, '__proto__', { value: 'own', enumerable: true });
    const out = Pod.prune({ metadata: { annotations: true }, status: { podIP: true } })(newer) as unknown as Record<string, Record<string, unknown>>;
    expect(out.futureTopLevel).toEqual({ x: 1 });
    expect(out.metadata!.futureMeta).toBe('m');
    expect(Object.getOwnPropertyDescriptor(out.metadata, '__proto__')?.value).toBe('own');
    expect(Object.getPrototypeOf(out.metadata)).toBe(Object.prototype);
    expect('annotations' in out.metadata!).toBe(false);
    expect(out.spec!.futureSpec).toBe(true);
    expect(out.status).toEqual({ phase: 'Running', futureStatus: [1, 2] });
    // keep keeps exactly what it names (and identity): nothing undeclared.
    const kept = Pod.keep({ status: { phase: true } })(newer) as unknown as Record<string, Record<string, unknown>>;
    expect(kept).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-0', namespace: 'shop', uid: 'u-1', resourceVersion: '42' },
      status: { phase: 'Running' },
    });
  });

  it('gives objects the write verbs refuse, unless castEditable says so', async () => {
    const api = Pod.api(undefined as never, 'shop');
    const writes = async () => {
      const slimPod = slim(pod);
      // @ts-expect-error a pruned object would wipe what prune dropped
      await api.replace('web-0', slimPod);
      // @ts-expect-error nor can it be created from
      await api.create(slimPod);
      // @ts-expect-error nor server-side applied
      await api.patch('web-0', { type: 'apply', body: slimPod }, { fieldManager: 'x' });
      // @ts-expect-error a kept one neither
      await api.replaceStatus('web-0', Pod.keep({ status: true })(pod));
      // A merge patch of it is fine (it only sets what it has), and castEditable is the deliberate way past.
      await api.patch('web-0', { type: 'merge', body: slimPod });
      await api.replace('web-0', castEditable<Pod>(slimPod));
      await api.replace('web-0', pod);
    };
    void writes;
    expect(castEditable<Pod>(slim(pod))).toEqual(slim(pod));
  });

  it('accepts whole fields and fields one level down of spec and status', () => {
    const f = Pod.prune({ spec: { containers: true, volumes: true }, status: { conditions: true } });
    const out = f(pod);
    expect(out.spec).toEqual({ nodeName: 'worker-1', restartPolicy: 'Always' });
    expect(out.status).toEqual({ phase: 'Running', podIP: '10.0.0.1' });
    expectTypeOf<NonNullable<typeof out.spec>>().not.toHaveProperty('containers');
    expectTypeOf<NonNullable<typeof out.spec>>().toHaveProperty('nodeName');
  });

  it('rejects fields that do not exist and fields the runtime needs', () => {
    // Checked by the compiler only (never called).
    const typeOnly = () => {
      // @ts-expect-error no such top-level field
      Pod.prune({ stauts: true });
      // @ts-expect-error no such field in spec
      Pod.prune({ spec: { nodeNmae: true } });
      // @ts-expect-error no such field in spec, next to one that exists
      Pod.prune({ spec: { nodeName: true, bogus: true } });
      // @ts-expect-error metadata.name is identity
      Pod.prune({ metadata: { name: true } });
      // @ts-expect-error metadata.namespace is identity
      Pod.prune({ metadata: { namespace: true, labels: true } });
      // @ts-expect-error metadata.resourceVersion is identity
      Pod.prune({ metadata: { resourceVersion: true } });
      // @ts-expect-error metadata.uid is identity
      Pod.prune({ metadata: { uid: true } });
      // @ts-expect-error metadata cannot be dropped whole
      Pod.prune({ metadata: true });
      // @ts-expect-error apiVersion is a string: nothing inside it to name
      Pod.prune({ apiVersion: { length: true } });
      // @ts-expect-error only `true` names a field
      Pod.prune({ status: false });
      // @ts-expect-error no such field in a container (below an array)
      Pod.prune({ spec: { containers: { imag: true } } });
      // @ts-expect-error image is a string: nothing inside it to name
      Pod.prune({ spec: { containers: { image: { length: true } } } });
    };
    void typeOnly;
    // From JavaScript (or past a cast), identity and malformed specs fail when the function is made, naming the path.
    expect(() => Pod.prune({ metadata: { name: true } } as never)).toThrow('kubereflect: Pod.prune: metadata.name: is identity: the cache needs it');
    expect(() => Pod.prune({ metadata: true } as never)).toThrow(/Pod\.prune: metadata: cannot be pruned whole/);
    expect(() => Pod.prune({ status: false } as never)).toThrow(ProjectionSpecError);
    expect(() => Pod.prune({ spec: { containers: { image: 'x' } } } as never)).toThrow(
      'kubereflect: Pod.prune: spec.containers.image: expected true or an object of fields, got string',
    );
  });
});

describe('Pod.keep', () => {
  const placement = Pod.keep({ spec: { nodeName: true }, status: { phase: true } });
  type Placement = ReturnType<typeof placement>;

  it('types the result with only the kept fields and the identity metadata', () => {
    expectTypeOf<Exclude<keyof Placement, symbol>>().toEqualTypeOf<'apiVersion' | 'kind' | 'metadata' | 'spec' | 'status'>();
    expectTypeOf<keyof NonNullable<Placement['metadata']>>().toEqualTypeOf<'name' | 'namespace' | 'resourceVersion' | 'uid'>();
    expectTypeOf<keyof NonNullable<Placement['spec']>>().toEqualTypeOf<'nodeName'>();
    expectTypeOf<NonNullable<Placement['status']>['phase']>().toEqualTypeOf<'Failed' | 'Pending' | 'Running' | 'Succeeded' | 'Unknown' | undefined>();
    const out = placement(pod);
    // @ts-expect-error containers were not kept
    void out.spec?.containers;
    // @ts-expect-error labels were not kept
    void out.metadata?.labels;
  });

  it('keeps only those fields at run time', () => {
    expect(placement(pod)).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-0', namespace: 'shop', uid: 'u-1', resourceVersion: '42' },
      spec: { nodeName: 'worker-1' },
      status: { phase: 'Running' },
    });
  });

  it('keeps whole fields and whole metadata when asked', () => {
    const f = Pod.keep({ metadata: true, spec: true });
    const out = f(pod);
    expect(out.metadata).toBe(pod.metadata);
    expect(out.spec).toBe(pod.spec);
    expect('status' in out).toBe(false);
    expectTypeOf(out.metadata).toEqualTypeOf<ObjectMeta | undefined>();
  });

  it('rejects unknown fields and naming identity fields', () => {
    const typeOnly = () => {
      // @ts-expect-error no such field
      Pod.keep({ spec: { nodeName: true, nodename: true } });
      // @ts-expect-error identity fields are always kept and cannot be named
      Pod.keep({ metadata: { uid: true } });
      // @ts-expect-error no such top-level field
      Pod.keep({ specs: true });
    };
    void typeOnly;
    // From JavaScript (or past a cast), a top-level name the kind lacks fails too; deeper names only the types check.
    expect(() => Pod.keep({ specs: true } as never)).toThrow(
      'kubereflect: Pod.keep: specs: not a field of Pod (fields: apiVersion, kind, metadata, spec, status); did you mean spec?',
    );
    expect(() => Pod.keep({ spec: { nodeName: true, nodename: true } } as never)).not.toThrow();
  });
});

describe('the generic result types', () => {
  it('Pruned and Kept agree with the functions', () => {
    type S = { readonly status: true; readonly metadata: { readonly managedFields: true } };
    expectTypeOf<Pruned<Pod, S>>().toEqualTypeOf<ReturnType<ReturnType<typeof Pod.prune<S>>>>();
    type K = { readonly spec: { readonly nodeName: true } };
    expectTypeOf<Kept<Pod, K>>().toEqualTypeOf<ReturnType<ReturnType<typeof Pod.keep<K>>>>();
  });
});

describe('pruned objects in a store', () => {
  it('stores pruned objects, typed without the pruned fields, found by name', () => {
    const slim = Pod.prune({ status: true, metadata: { managedFields: true } });
    const { reader, writer } = store<ReturnType<typeof slim>>();
    writer.applyEvent({ type: 'Init' });
    writer.applyEvent({ type: 'InitApply', object: slim(pod) });
    writer.applyEvent({ type: 'InitDone' });
    const got = reader.get({ name: 'web-0', namespace: 'shop' });
    expect(got?.spec?.nodeName).toBe('worker-1');
    expect(got && 'status' in got).toBe(false);
    // @ts-expect-error status is not in the stored type
    void got?.status;
    expect(Pod.refFrom(got!).key).toBe('shop/web-0');
    const deployment = { apiVersion: 'apps/v1' as const, kind: 'Deployment' as const, metadata: { name: 'web', namespace: 'shop' } };
    // @ts-expect-error a Deployment is not a Pod
    Pod.refFrom(deployment);
    expect(Deployment.refFrom(deployment).key).toBe('shop/web');
  });
});

describe('cached objects', () => {
  it("carry their identity by type: a namespaced kind's also its namespace, a cluster-scoped kind's none", () => {
    const pods = Pod.cache(Pod.api({} as never, 'shop'), { transform: Pod.prune({ status: true }) });
    type CachedPod = NonNullable<ReturnType<typeof pods.reader.get>>;
    expectTypeOf<CachedPod['metadata']['name']>().toEqualTypeOf<string>();
    expectTypeOf<CachedPod['metadata']['namespace']>().toEqualTypeOf<string>();
    expectTypeOf<CachedPod['metadata']['uid']>().toEqualTypeOf<string>();
    const nodes = Node.metadataCache(Node.api({} as never));
    type CachedNode = NonNullable<ReturnType<typeof nodes.reader.get>>;
    expectTypeOf<CachedNode['metadata']['name']>().toEqualTypeOf<string>();
    expectTypeOf<CachedNode['metadata']['namespace']>().toEqualTypeOf<string | undefined>();
    expect(pods.reader.size + nodes.reader.size).toBe(0);
  });
});

describe('a cluster-scoped kind', () => {
  it('has an Api without a namespace and refs without one', () => {
    expectTypeOf(Node.api).parameters.toEqualTypeOf<[client: Parameters<typeof Node.api>[0]]>();
    expect(Node.ref('worker-1').key).toBe('worker-1');
    // @ts-expect-error a cluster-scoped kind's ref takes no namespace
    Node.ref('worker-1', 'default');
    expect(Node.resource).toMatchObject({ group: '', version: 'v1', plural: 'nodes', namespaced: false });
  });
});

describe('a namespaced kind', () => {
  it('needs a namespace or allNamespaces for its Api, and its verbs decide its methods', () => {
    expectTypeOf(Deployment.api).parameter(1).toEqualTypeOf<string | typeof import('../../runtime/index.ts').allNamespaces>();
    // @ts-expect-error a namespaced kind's Api needs a namespace (or allNamespaces)
    expect(() => Deployment.api({} as never)).toThrow(/namespaced/);
    expect(Deployment.ref('web', 'shop').toString()).toBe('Deployment.v1.apps/shop/web');
    expect(Deployment.apiVersion).toBe('apps/v1');
    expect(Deployment.resource.subresources).toEqual(['scale', 'status']);
  });
});
