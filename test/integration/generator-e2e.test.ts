/**
 * End to end against the real kube-apiserver: generate from a CRD (under a
 * group unique to this run), apply the CRD, create objects through the
 * generated typed Api, run the generated reflector with `keep`, and find
 * typed, pruned objects in its store.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ApiextensionsV1Api } from '@kubernetes/client-node';
import { afterAll, describe, expect, expectTypeOf, inject, it } from 'vitest';
import { generate } from '../../generator/generate.ts';
import { Client } from '../../runtime/index.ts';
import { kubeConfig, testNamespace } from '../support/kube.ts';
import { CRDS, ROOT } from '../generator/helpers.ts';

type WidgetModule = typeof import('../generator/generated/fixtures.kubereflect.dev/v1/widget.ts');

const group = `e2e-${randomBytes(4).toString('hex')}.kubereflect.dev`;
const work = join(ROOT, '.cache/test-generated', group);

async function generateWidget(): Promise<WidgetModule> {
  mkdirSync(work, { recursive: true });
  const crdFile = join(work, 'widgets.yaml');
  writeFileSync(crdFile, readFileSync(join(CRDS, 'widgets.yaml'), 'utf8').replaceAll('fixtures.kubereflect.dev', group));
  await generate({ crd: [crdFile], out: join(work, 'out'), runtime: join(ROOT, 'runtime/index.ts') });
  return (await import(pathToFileURL(join(work, 'out', group, 'v1/widget.ts')).href)) as WidgetModule;
}

/** Applies the CRD as raw JSON: client-node's models would drop the `x-kubernetes-*` fields. */
async function applyCrd(client: Client): Promise<void> {
  const { parseAllDocuments } = await import('yaml');
  const body = parseAllDocuments(readFileSync(join(work, 'widgets.yaml'), 'utf8'))[0]!.toJS();
  const path = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
  await client.request({ method: 'POST', path, body });
  const name = `widgets.${group}`;
  for (let i = 0; i < 100; i++) {
    const crd = await client.request<{ status?: { conditions?: { type: string; status: string }[] } }>({ path: `${path}/${name}` });
    if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} never became Established`);
}

async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('generated reflector against the apiserver', () => {
  const client = Client.fromFile(inject('kube').kubeconfig);
  afterAll(async () => {
    client.close();
    await kubeConfig()
      .makeApiClient(ApiextensionsV1Api)
      .deleteCustomResourceDefinition({ name: `widgets.${group}` })
      .catch(() => {});
  });

  it('caches typed, kept objects of a freshly generated CRD kind', async () => {
    const { Widget } = await generateWidget();
    expect(Widget.resource.group).toBe(group);
    await applyCrd(client);
    const ns = await testNamespace('gen-e2e');
    const widgets = Widget.api(client, ns);

    await widgets.create({
      metadata: { name: 'a', labels: { app: 'w' } },
      spec: { size: 3, color: 'blue', parts: [{ name: 'p', screws: [{ length: 1.5 }] }] },
    });
    await widgets.create({ metadata: { name: 'b' }, spec: { size: '50%' } });
    await widgets.patchStatus('a', { type: 'merge', body: { status: { phase: 'Ready', replicas: 1 } } });

    const slim = Widget.keep({ spec: { size: true }, status: { phase: true } });
    const cache = Widget.cache(widgets, { transform: slim, watcher: { timeoutSeconds: 30 } });
    const running = cache.run();
    await cache.reader.waitUntilReady(AbortSignal.timeout(20_000));

    const a = cache.reader.get(Widget.ref('a', ns));
    expectTypeOf(a?.spec?.size).toEqualTypeOf<number | string | undefined>();
    // @ts-expect-error color was not kept
    void a?.spec?.color;
    expect(a).toMatchObject({ apiVersion: `${group}/v1`, kind: 'Widget', spec: { size: 3 }, status: { phase: 'Ready' } });
    expect(Object.keys(a!.metadata!).sort()).toEqual(['name', 'namespace', 'resourceVersion', 'uid']);
    expect(Object.keys(a!.spec!)).toEqual(['size']);
    expect(cache.reader.get({ name: 'b', namespace: ns })?.spec).toEqual({ size: '50%' });
    expect(Object.isFrozen(a)).toBe(true);

    // Changes after the first list arrive through the watch, kept the same way.
    await widgets.create({ metadata: { name: 'c' }, spec: { size: 7, color: 'red' } });
    await eventually(() => cache.reader.get({ name: 'c', namespace: ns }) !== undefined, 'widget c in the store');
    expect(cache.reader.get({ name: 'c', namespace: ns })!.spec).toEqual({ size: 7 });
    await widgets.delete('b');
    await eventually(() => cache.reader.get({ name: 'b', namespace: ns }) === undefined, 'widget b to leave the store');
    expect(
      cache.reader
        .state()
        .map((w) => w.metadata?.name)
        .sort(),
    ).toEqual(['a', 'c']);

    cache.stop();
    await running;
  }, 60_000);

  it('caches metadata only, and prunes with the typed spec', async () => {
    const { Widget } = (await import(pathToFileURL(join(work, 'out', group, 'v1/widget.ts')).href)) as WidgetModule;
    const ns = await testNamespace('gen-e2e');
    const widgets = Widget.api(client, ns);
    await widgets.create({ metadata: { name: 'm', labels: { tier: 'x' }, annotations: { note: 'n' } }, spec: { size: 1, labels: { k: 'v' } } });

    const meta = Widget.metadataCache(widgets);
    const metaRun = meta.run();
    await meta.reader.waitUntilReady(AbortSignal.timeout(20_000));
    const m = meta.reader.get({ name: 'm', namespace: ns })!;
    expect(m.kind).toBe('PartialObjectMetadata');
    expect(m.metadata.labels).toEqual({ tier: 'x' });
    expect('spec' in m).toBe(false);
    meta.stop();
    await metaRun;

    const pruned = Widget.cache(Widget.api(client, ns), { transform: Widget.prune({ metadata: { managedFields: true, annotations: true }, status: true }) });
    const prunedRun = pruned.run();
    await pruned.reader.waitUntilReady(AbortSignal.timeout(20_000));
    const p = pruned.reader.get({ name: 'm', namespace: ns })!;
    expect(p.spec).toEqual({ size: 1, labels: { k: 'v' }, color: 'red', replicas: 1 }); // defaults applied by the server
    expect(p.metadata?.labels).toEqual({ tier: 'x' });
    expect(p.metadata && 'managedFields' in p.metadata).toBe(false);
    expect(p.metadata && 'annotations' in p.metadata).toBe(false);
    // @ts-expect-error annotations were pruned
    void p.metadata?.annotations;
    pruned.stop();
    await prunedRun;
  }, 60_000);
});
