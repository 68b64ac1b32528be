/**
 * `Client` and `Api<K>` against the real kube-apiserver: typed errors that
 * carry the server's Status, the write verbs and the status subresource,
 * metadata-only reads, client-certificate auth, and aborts.
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Api } from '../../runtime/client/api.ts';
import { Client } from '../../runtime/client/client.ts';
import { RequestAbortedError, ApiError, KubeError } from '../../runtime/core/errors.ts';
import type { KubeObject, ResourceDescriptor } from '../../runtime/core/types.ts';
import { testNamespace } from '../support/kube.ts';

interface Pod extends KubeObject {
  spec?: { containers: { name: string; image: string }[]; nodeName?: string };
  status?: { phase?: string; message?: string };
}
const pods: ResourceDescriptor = { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true, subresources: ['status'] };
const namespaces: ResourceDescriptor = { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false };

const kubeconfig = inject('kube').kubeconfig;
const admin = Client.fromFile(kubeconfig, { context: 'admin' });
const certAdmin = Client.fromFile(kubeconfig, { context: 'cert-admin' });
afterAll(() => [admin, certAdmin].forEach((c) => c.close()));

const pod = (name: string): Pod => ({ metadata: { name, labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } });

describe('Api against kube-apiserver', () => {
  it('reports a missing object as an ApiError carrying the server Status, and getIfExists as undefined', async () => {
    const ns = await testNamespace('errors');
    const api = new Api<Pod>(admin, pods, ns);
    const err = await api.get('nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    const e = err as ApiError;
    expect(e.statusCode).toBe(404);
    expect(e.reason).toBe('NotFound');
    expect(e.status.details?.name).toBe('nope');
    expect(e.message).toContain(`GET /api/v1/namespaces/${ns}/pods/nope`);
    expect(await api.getIfExists('nope')).toBeUndefined();
  });

  it('reports a conflicting create as 409 AlreadyExists and a stale replace as 409 Conflict', async () => {
    const ns = await testNamespace('conflict');
    const api = new Api<Pod>(admin, pods, ns);
    const created = await api.create(pod('p'));
    const dup = (await api.create(pod('p')).catch((e: unknown) => e)) as ApiError;
    expect([dup.statusCode, dup.reason]).toEqual([409, 'AlreadyExists']);
    await api.patch('p', { type: 'merge', body: { metadata: { labels: { v: '2' } } } });
    const stale = (await api.replace('p', created).catch((e: unknown) => e)) as ApiError;
    expect([stale.statusCode, stale.reason]).toEqual([409, 'Conflict']);
  });

  it('writes through every patch type and the status subresource', async () => {
    const ns = await testNamespace('writes');
    const api = new Api<Pod>(admin, pods, ns);
    await api.create(pod('p'));
    await api.patch('p', { type: 'merge', body: { metadata: { labels: { merge: 'yes' } } } });
    await api.patch('p', { type: 'strategic', body: { metadata: { labels: { strategic: 'yes' } } } });
    await api.patch('p', { type: 'json', operations: [{ op: 'add', path: '/metadata/labels/json', value: 'yes' }] });
    const applied = await api.patch(
      'p',
      { type: 'apply', body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', labels: { ssa: 'yes' } } } },
      { fieldManager: 'kubereflect-test' },
    );
    expect(applied.metadata?.labels).toMatchObject({ app: 'web', merge: 'yes', strategic: 'yes', json: 'yes', ssa: 'yes' });
    await expect(api.patch('p', { type: 'apply', body: {} })).rejects.toThrow(/needs a fieldManager/);

    const withStatus = await api.patchStatus('p', { type: 'merge', body: { status: { message: 'hello' } } });
    expect(withStatus.status?.message).toBe('hello');
    expect((await api.getStatus('p')).status?.message).toBe('hello');
    // The main resource ignores status changes; the subresource is the way to write them.
    await api.patch('p', { type: 'merge', body: { status: { message: 'ignored' } } });
    expect((await api.get('p')).status?.message).toBe('hello');

    const dry = await api.create(pod('dry'), { dryRun: 'All' });
    expect(dry.metadata?.name).toBe('dry');
    expect(await api.getIfExists('dry')).toBeUndefined();

    await api.delete('p', { gracePeriodSeconds: 0 });
    expect(await api.getIfExists('p')).toBeUndefined();
  });

  it('reads metadata only: no spec, no status', async () => {
    const ns = await testNamespace('partial');
    const api = new Api<Pod>(admin, pods, ns);
    await api.create(pod('p'));
    const one = await api.metadata().get('p');
    expect(one.kind).toBe('PartialObjectMetadata');
    expect(one.metadata.labels).toEqual({ app: 'web' });
    expect(one).not.toHaveProperty('spec');
    const list = await api.metadata().list();
    expect(list.kind).toBe('PartialObjectMetadataList');
    expect(list.items.map((i) => i.metadata.name)).toEqual(['p']);
  });

  it('lists across all namespaces and refuses a name without a namespace there', async () => {
    const ns = await testNamespace('allns');
    await new Api<Pod>(admin, pods, ns).create(pod('everywhere'));
    const all = new Api<Pod>(admin, pods);
    const list = await all.list({ labelSelector: 'app=web', fieldSelector: `metadata.namespace=${ns}` });
    expect(list.items.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`)).toEqual([`${ns}/everywhere`]);
    // The struct objects hold works as the string does (the server sees the string form).
    const byStruct = await all.list({ labelSelector: { matchLabels: { app: 'web' } }, fieldSelector: `metadata.namespace=${ns}` });
    expect(byStruct.items.map((p) => p.metadata?.name)).toEqual(['everywhere']);
    const none = await all.list({
      labelSelector: { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['web'] }] },
      fieldSelector: `metadata.namespace=${ns}`,
    });
    expect(none.items).toEqual([]);
    await expect(all.get('everywhere')).rejects.toThrow(KubeError);
    // create takes the namespace from the object when the Api spans all namespaces
    const created = await all.create({ ...pod('from-object'), metadata: { name: 'from-object', namespace: ns } });
    expect(created.metadata?.namespace).toBe(ns);
  });

  it('refuses a namespace for a cluster-scoped kind', () => {
    expect(() => new Api(admin, namespaces, 'default')).toThrow(/cluster-scoped/);
  });

  it('authenticates with a client certificate', async () => {
    const list = await new Api(certAdmin, namespaces).list({ limit: 1 });
    expect(list.items).toHaveLength(1);
    expect(list.metadata.continue).toBeTruthy();
  });

  it('aborts a request and a watch through their signal', async () => {
    const ns = await testNamespace('abort');
    const api = new Api<Pod>(admin, pods, ns);
    const ac = new AbortController();
    ac.abort();
    await expect(api.list({ signal: ac.signal })).rejects.toBeInstanceOf(RequestAbortedError);

    const watchAbort = new AbortController();
    const events: string[] = [];
    const consuming = (async () => {
      for await (const e of api.watch({ resourceVersion: '0', timeoutSeconds: 60, signal: watchAbort.signal })) events.push(e.type);
    })().catch((e: unknown) => e);
    await api.create(pod('seen'));
    await new Promise((r) => setTimeout(r, 300));
    watchAbort.abort();
    expect(await consuming).toBeInstanceOf(RequestAbortedError);
    expect(events).toContain('ADDED');
  });
});

describe('what the server writes for an unset time', () => {
  it('sends null for a core/v1 Event created without eventTime, and accepts creationTimestamp: null (generated Time types allow null)', async () => {
    const { Event } = await import('../../generated/core/v1/event.ts');
    const ns = await testNamespace('zero-time');
    const api = Event.api(admin, ns);
    const created = await api.create({
      metadata: { name: 'e1', creationTimestamp: null },
      involvedObject: { kind: 'Pod', name: 'p', namespace: ns },
      reason: 'Test',
      message: 'zero time',
    });
    expect(created.eventTime).toBeNull();
    expect(typeof created.metadata?.creationTimestamp).toBe('string'); // the server sets it
    const got = await api.get('e1');
    expect(got.eventTime).toBeNull();
    // The generated type says so: a null check is needed before using it as a string.
    const t: string | null | undefined = got.eventTime;
    expect(t).toBeNull();
  });
});
