/**
 * Objects the examples create on the local control plane: small pods, fake
 * nodes, and the sample Widget CRD.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { Api, ApiError, type Client, type KubeObject } from '../../runtime/index.ts';
import { Pod } from '../../generated/core/v1/pod.ts';

/** A pod with two containers, labels and a little status: enough to show pruning. */
export function samplePod(name: string, labels: Record<string, string> = { app: 'web' }): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels, annotations: { 'example.kubereflect.dev/owner': 'team-a' } },
    spec: {
      containers: [
        { name: 'app', image: 'registry.example/app:1.0', env: [{ name: 'MODE', value: 'demo' }], resources: { requests: { cpu: '100m', memory: '64Mi' } } },
        { name: 'sidecar', image: 'registry.example/proxy:2.3', ports: [{ containerPort: 8080 }] },
      ],
    },
  };
}

/** Creates `count` sample pods named `prefix-0…` in `namespace`. */
export async function seedPods(client: Client, namespace: string, count: number, prefix = 'web'): Promise<void> {
  const pods = Pod.api(client, namespace);
  await Promise.all(Array.from({ length: count }, (_, i) => pods.create(samplePod(`${prefix}-${i}`))));
}

const crdFile = join(import.meta.dirname, '..', 'crds', 'widget.yaml');
const crds = { group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition', plural: 'customresourcedefinitions', namespaced: false };

/** Applies `examples/crds/widget.yaml` (server-side apply) and waits until Widgets are served. */
export async function applyWidgetCrd(client: Client): Promise<void> {
  const crd = parse(readFileSync(crdFile, 'utf8')) as KubeObject & { metadata: { name: string } };
  const api = new Api<KubeObject & { status?: { conditions?: { type: string; status: string }[] } }>(client, crds);
  await api.patch(crd.metadata.name, { type: 'apply', body: crd, force: true }, { fieldManager: 'kubereflect-examples' });
  const widgets = new Api(client, { group: 'demo.kubereflect.dev', version: 'v1', kind: 'Widget', plural: 'widgets', namespaced: true });
  for (let i = 0; i < 100; i++) {
    const got = await api.get(crd.metadata.name);
    const established = got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
    if (established) {
      try {
        await widgets.list({ limit: 1 });
        return;
      } catch (err) {
        if (!(err instanceof ApiError) || err.statusCode !== 404) throw err;
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${crd.metadata.name} was not established within 10 s`);
}
