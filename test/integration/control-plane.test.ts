/**
 * Smoke tests of the cluster under test, through @kubernetes/client-node: they
 * pin the server behaviours the runtime relies on (RBAC, streaming lists,
 * metadata-only lists, CRDs) before any kubereflect code is involved.
 */
import { request } from 'node:https';
import {
  ApiException,
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  Watch,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { describe, expect, inject, it } from 'vitest';
import { kubeConfig, testNamespace } from '../support/kube.ts';

/** GET through the kubeconfig's TLS and auth settings, with a chosen Accept header. */
async function getWithAccept(kc: KubeConfig, path: string, accept: string): Promise<{ status: number; body: any }> {
  const opts: import('node:https').RequestOptions = { method: 'GET', headers: { accept } };
  await kc.applyToHTTPSOptions(opts);
  const url = new URL(path, kc.getCurrentCluster()!.server);
  return new Promise((resolve, reject) => {
    const req = request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the cluster under test', () => {
  it('is the pinned kube-apiserver when it is the local control plane', () => {
    const env = inject('kube');
    expect(env.serverVersion).toMatch(/^v1\.\d+\.\d+/);
    if (env.local) expect(env.serverVersion).toBe(env.pinnedVersion);
  });

  it('lets admin list namespaces', async () => {
    const list = await kubeConfig('admin').makeApiClient(CoreV1Api).listNamespace();
    const names = list.items.map((n) => n.metadata?.name);
    expect(names).toContain('default');
    expect(names).toContain('team-a');
  });

  it('refuses viewer secrets with 403 but lets it list pods in team-a', async () => {
    const core = kubeConfig('viewer').makeApiClient(CoreV1Api);
    const denied = await core.listNamespacedSecret({ namespace: 'team-a' }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(denied).toBeInstanceOf(ApiException);
    expect((denied as ApiException<unknown>).code).toBe(403);
    const pods = await core.listNamespacedPod({ namespace: 'team-a' });
    expect(pods.items).toBeInstanceOf(Array);
  });

  it('authenticates a client certificate of system:masters', async () => {
    const list = await kubeConfig('cert-admin').makeApiClient(CoreV1Api).listNamespace({ limit: 1 });
    expect(list.items).toHaveLength(1);
  });

  it('streams a list: ADDED for each object, then the initial-events-end bookmark', async () => {
    const kc = kubeConfig();
    const ns = await testNamespace('stream');
    const core = kc.makeApiClient(CoreV1Api);
    for (const name of ['a', 'b', 'c']) {
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name }, data: { k: name } } });
    }
    const events: { type: string; obj: any }[] = [];
    await new Promise<void>((resolve, reject) => {
      let controller: AbortController | undefined;
      new Watch(kc)
        .watch(
          `/api/v1/namespaces/${ns}/configmaps`,
          {
            sendInitialEvents: true,
            resourceVersionMatch: 'NotOlderThan',
            allowWatchBookmarks: true,
            timeoutSeconds: 30,
          },
          (type, obj) => {
            events.push({ type, obj });
            if (type === 'BOOKMARK') {
              controller?.abort();
              resolve();
            }
          },
          (err) => (err && err.name !== 'AbortError' ? reject(err) : resolve()),
        )
        .then((c) => (controller = c), reject);
    });
    expect(events.map((e) => e.type)).toEqual(['ADDED', 'ADDED', 'ADDED', 'BOOKMARK']);
    expect(
      events
        .slice(0, 3)
        .map((e) => e.obj.metadata.name)
        .sort(),
    ).toEqual(['a', 'b', 'c']);
    const bookmark = events[3]!.obj;
    expect(bookmark.metadata.annotations).toEqual({ 'k8s.io/initial-events-end': 'true' });
    expect(bookmark.metadata.resourceVersion).toMatch(/^\d+$/);
  });

  it('serves metadata-only lists: items have metadata and no data', async () => {
    const kc = kubeConfig();
    const ns = await testNamespace('meta');
    await kc.makeApiClient(CoreV1Api).createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'm' }, data: { secret: 'x' } } });
    const res = await getWithAccept(kc, `/api/v1/namespaces/${ns}/configmaps`, 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1');
    expect(res.status).toBe(200);
    expect(res.body.kind).toBe('PartialObjectMetadataList');
    expect(res.body.items).toHaveLength(1);
    const item = res.body.items[0];
    expect(item.kind).toBe('PartialObjectMetadata');
    expect(item.metadata.name).toBe('m');
    expect(item).not.toHaveProperty('data');
    expect(item).not.toHaveProperty('spec');
  });

  it('establishes a CRD and serves its objects', async () => {
    const kc = kubeConfig();
    const group = `smoke${Date.now().toString(36)}.kubereflect.dev`;
    const crd: V1CustomResourceDefinition = {
      metadata: { name: `widgets.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } } } },
          },
        ],
      },
    };
    const ext = kc.makeApiClient(ApiextensionsV1Api);
    await ext.createCustomResourceDefinition({ body: crd });
    let established = false;
    for (let i = 0; i < 100 && !established; i++) {
      const got = await ext.readCustomResourceDefinition({ name: crd.metadata!.name! });
      established = got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
      if (!established) await new Promise((r) => setTimeout(r, 100));
    }
    expect(established).toBe(true);

    const ns = await testNamespace('crd');
    const custom = kc.makeApiClient(CustomObjectsApi);
    const body = { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 3 } };
    // A freshly established CRD can take a moment to be served by every handler.
    for (let i = 0; ; i++) {
      try {
        await custom.createNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'widgets', body });
        break;
      } catch (err) {
        if (i > 50 || !(err instanceof ApiException) || err.code !== 404) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const list = (await custom.listNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'widgets' })) as any;
    expect(list.items.map((w: any) => [w.metadata.name, w.spec.size])).toEqual([['w1', 3]]);
  });
});
