import { describe, expect, it } from 'vitest';
import { ObjectRef, keyOf, storeKey } from './object-ref.ts';
import type { KubeObject } from './types.ts';

const deployments = { group: 'apps', version: 'v1', kind: 'Deployment' };
const pods = { group: '', version: 'v1', kind: 'Pod' };
const nodes = { group: '', version: 'v1', kind: 'Node' };

describe('ObjectRef', () => {
  it('formats a readable name', () => {
    expect(ObjectRef.of(deployments, 'web', 'shop').toString()).toBe('Deployment.v1.apps/shop/web');
    expect(String(ObjectRef.of(pods, 'web-0', 'shop'))).toBe('Pod.v1/shop/web-0');
    expect(ObjectRef.of(nodes, 'worker-1').toString()).toBe('Node.v1/worker-1');
    expect(ObjectRef.of(deployments, 'web', 'shop').apiVersion).toBe('apps/v1');
    expect(ObjectRef.of(pods, 'p').apiVersion).toBe('v1');
  });

  it('builds from an object, keeping resourceVersion and uid', () => {
    const obj: KubeObject = { metadata: { name: 'web', namespace: 'shop', resourceVersion: '7', uid: 'u1' } };
    const ref = ObjectRef.fromObject(obj, deployments);
    expect(ref).toMatchObject({ group: 'apps', version: 'v1', kind: 'Deployment', name: 'web', namespace: 'shop', resourceVersion: '7', uid: 'u1' });
    expect(ref.key).toBe('shop/web');
  });

  it('refuses an object without a name', () => {
    expect(() => ObjectRef.fromObject({ metadata: { namespace: 'shop' } }, deployments)).toThrow(/Deployment has no metadata.name/);
    expect(() => keyOf({})).toThrow(/no metadata.name/);
  });

  it('compares identity only', () => {
    const a = ObjectRef.fromObject({ metadata: { name: 'web', namespace: 'shop', resourceVersion: '1', uid: 'u1' } }, deployments);
    const b = ObjectRef.fromObject({ metadata: { name: 'web', namespace: 'shop', resourceVersion: '9', uid: 'u2' } }, deployments);
    expect(a.equals(b)).toBe(true);
    expect(a.equals(ObjectRef.of(deployments, 'web', 'other'))).toBe(false);
    expect(a.equals(ObjectRef.of(deployments, 'web'))).toBe(false);
    expect(a.equals(ObjectRef.of(deployments, 'api', 'shop'))).toBe(false);
    expect(a.equals(ObjectRef.of({ ...deployments, version: 'v1beta1' }, 'web', 'shop'))).toBe(false);
    expect(a.equals(ObjectRef.of({ ...deployments, kind: 'StatefulSet' }, 'web', 'shop'))).toBe(false);
    expect(a.equals(ObjectRef.of({ ...deployments, group: 'extensions' }, 'web', 'shop'))).toBe(false);
  });

  it('treats an empty namespace as cluster-scoped', () => {
    const ref = ObjectRef.of(nodes, 'worker-1', '');
    expect(ref.namespace).toBeUndefined();
    expect(ref.key).toBe('worker-1');
    expect(ref.equals(ObjectRef.of(nodes, 'worker-1'))).toBe(true);
  });

  it('builds from an owner reference only when apiVersion and kind match', () => {
    const owner = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'u1', controller: true };
    const ref = ObjectRef.fromOwnerReference(owner, deployments, 'shop');
    expect(ref?.toString()).toBe('Deployment.v1.apps/shop/web');
    expect(ref?.uid).toBe('u1');
    expect(ObjectRef.fromOwnerReference({ ...owner, apiVersion: 'apps/v1beta2' }, deployments, 'shop')).toBeUndefined();
    expect(ObjectRef.fromOwnerReference({ ...owner, kind: 'ReplicaSet' }, deployments, 'shop')).toBeUndefined();
    const nodeOwner = { apiVersion: 'v1', kind: 'Node', name: 'worker-1', uid: 'n1' };
    expect(ObjectRef.fromOwnerReference(nodeOwner, nodes)?.key).toBe('worker-1');
    expect(ObjectRef.fromOwnerReference({ ...nodeOwner, apiVersion: '/v1' }, nodes)).toBeUndefined();
  });
});

describe('storeKey', () => {
  it('keys namespaced and cluster-scoped objects apart', () => {
    expect(keyOf({ metadata: { name: 'web', namespace: 'shop' } })).toBe('shop/web');
    expect(keyOf({ metadata: { name: 'web' } })).toBe('web');
    expect(keyOf({ metadata: { name: 'web', namespace: '' } })).toBe('web');
    expect(keyOf({ metadata: { name: 'web' } })).toBe(ObjectRef.of(nodes, 'web').key);
    expect(keyOf(Object.freeze({ metadata: Object.freeze({ name: '__proto__', namespace: 'a' }) }))).toBe('a/__proto__');
  });

  it('gives the same key from an object and from its name and namespace', () => {
    expect(storeKey({ metadata: { name: 'web', namespace: 'shop' } })).toBe('shop/web');
    expect(storeKey('web', 'shop')).toBe('shop/web');
    expect(storeKey('worker-1')).toBe('worker-1');
    expect(storeKey('worker-1', '')).toBe('worker-1');
    expect(() => storeKey({ metadata: { namespace: 'shop' } })).toThrow(/no metadata\.name/);
  });
});
