/**
 * The kinds the benchmarks cache besides pods, so that a headline states a
 * range instead of one kind's ratio:
 *
 * - `configmaps`: application configuration, ~2 KB of `data` each (a YAML
 *   file, a properties file, a JSON document and a few flags), four labels
 *   and one annotation, applied by a deployment tool (`helm`);
 * - `secrets`: ~2 KB of base64 `data` each (a certificate, a key, a token),
 *   applied by an operator (`cert-manager`);
 * - `workflows`: a CRD with a large spec, shaped like an Argo Workflow: a DAG
 *   of container templates with parameters, env, resources, volumes and
 *   retry strategies (~9 KB of spec), and a status of per-node results
 *   written through the status subresource by a controller.
 *
 * As for pods (`data.ts`), objects are a pure function of (index,
 * namespace), loaded with server-side apply so that the server writes real
 * `managedFields`, into namespaces that are kept and reused.
 */
import { Api, type Client } from '../runtime/index.ts';
import type { KubeObject } from '../runtime/index.ts';
import type { ResourceDescriptor } from '../runtime/kind.ts';
import { mulberry32 } from '../test/support/random.ts';
import { benchNamespace, DATA_VERSION, parallel, podResource } from './data.ts';

export const KINDS = ['pods', 'configmaps', 'secrets', 'workflows'] as const;
export type BenchKind = (typeof KINDS)[number];

export const configMapResource: ResourceDescriptor = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };
export const secretResource: ResourceDescriptor = { group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true };
export const workflowResource: ResourceDescriptor = {
  group: 'bench.kubereflect.dev',
  version: 'v1alpha1',
  kind: 'Workflow',
  plural: 'workflows',
  namespaced: true,
  subresources: ['status'],
};

/** Where kind `kind` lives on the server. */
export function resourceOf(kind: BenchKind): ResourceDescriptor {
  return { pods: podResource, configmaps: configMapResource, secrets: secretResource, workflows: workflowResource }[kind];
}

/** The namespace that holds `n` objects of `kind` (pods keep their old names, so loaded data is reused). */
export function kindNamespace(kind: BenchKind, n: number): string {
  return kind === 'pods' ? benchNamespace(n) : `kubereflect-bench-v${DATA_VERSION}-${kind}-n${n}`;
}

/** The URL path of the objects of `kind` in `namespace`. */
export function kindPath(kind: BenchKind, namespace: string): string {
  const r = resourceOf(kind);
  return `/${r.group ? `apis/${r.group}` : 'api'}/${r.version}/namespaces/${namespace}/${r.plural}`;
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const word = (r: () => number, n: number) => Array.from({ length: n }, () => ALPHABET[Math.floor(r() * ALPHABET.length)]).join('');
const b64 = (r: () => number, bytes: number) => Buffer.from(Array.from({ length: bytes }, () => Math.floor(r() * 256))).toString('base64');
const SERVICES = ['checkout', 'cart', 'catalog', 'search', 'payments', 'users', 'orders', 'shipping', 'inventory', 'pricing'];

/** ConfigMap `i`: ~2 KB of data. */
export function configMap(i: number, namespace: string): KubeObject & { data: Record<string, string> } {
  const r = mulberry32(i * 31 + 5);
  const app = SERVICES[i % SERVICES.length]!;
  const name = `${app}-config-${i}`;
  const yaml = [
    'server:',
    `  port: ${8000 + (i % 100)}`,
    '  readTimeout: 30s',
    '  writeTimeout: 30s',
    '  maxHeaderBytes: 1048576',
    'database:',
    `  host: ${app}-db.${namespace}.svc.cluster.local`,
    '  port: 5432',
    `  name: ${app}`,
    '  pool:',
    '    maxOpen: 50',
    '    maxIdle: 10',
    '    connMaxLifetime: 30m',
    'cache:',
    `  redis: redis://${app}-cache:6379/0`,
    '  ttl: 300s',
    'logging:',
    '  level: info',
    '  format: json',
    'tracing:',
    '  endpoint: http://otel-collector.observability.svc.cluster.local:4317',
    `  sampleRatio: 0.${1 + (i % 9)}`,
    'features:',
    ...Array.from({ length: 8 }, (_, _k) => `  ${word(r, 10)}: ${r() < 0.5}`),
  ].join('\n');
  const properties = Array.from({ length: 14 }, (_, _k) => `${app}.setting.${word(r, 8)}=${word(r, 16)}`).join('\n');
  const json = JSON.stringify({
    version: i,
    endpoints: Array.from({ length: 4 }, () => ({
      name: word(r, 8),
      url: `https://${word(r, 10)}.example.com/api/v1`,
      timeoutMs: 1000 + Math.floor(r() * 5000),
    })),
  });
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      namespace,
      labels: {
        'app.kubernetes.io/name': app,
        'app.kubernetes.io/instance': `${app}-prod`,
        'app.kubernetes.io/managed-by': 'Helm',
        'helm.sh/chart': `${app}-1.${i % 7}.0`,
      },
      annotations: { 'meta.helm.sh/release-name': `${app}-prod` },
    },
    data: { 'config.yaml': yaml, 'app.properties': properties, 'endpoints.json': json, LOG_LEVEL: 'info', REGION: 'eu-west-1' },
  };
}

/** Secret `i`: ~2 KB of base64 data. */
export function secret(i: number, namespace: string): KubeObject & { type: string; data: Record<string, string> } {
  const r = mulberry32(i * 131 + 9);
  const app = SERVICES[i % SERVICES.length]!;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: {
      name: `${app}-tls-${i}`,
      namespace,
      labels: { 'app.kubernetes.io/name': app, 'controller.cert-manager.io/fao': 'true' },
      annotations: {
        'cert-manager.io/certificate-name': `${app}-tls-${i}`,
        'cert-manager.io/issuer-name': 'letsencrypt-prod',
        'cert-manager.io/common-name': `${app}-${i}.example.com`,
      },
    },
    data: { 'tls.crt': b64(r, 900), 'tls.key': b64(r, 420), 'ca.crt': b64(r, 180) },
  };
}

/** The spec half of Workflow `i`: a DAG of container templates (~9 KB). */
export function workflowSpec(i: number, namespace: string): KubeObject & { spec: Record<string, unknown> } {
  const r = mulberry32(i * 977 + 3);
  const steps = ['fetch', 'validate', 'transform', 'train', 'evaluate', 'package', 'publish', 'notify'];
  const templates = steps.map((step, k) => ({
    name: step,
    inputs: { parameters: [{ name: 'run-id' }, { name: 'dataset' }, { name: 'shard', value: String(k) }] },
    outputs: { artifacts: [{ name: `${step}-out`, path: `/tmp/${step}`, s3: { key: `runs/{{inputs.parameters.run-id}}/${step}.tgz` } }] },
    retryStrategy: { limit: String(2 + (k % 3)), retryPolicy: 'OnFailure', backoff: { duration: '10s', factor: '2', maxDuration: '5m' } },
    activeDeadlineSeconds: 3600,
    container: {
      image: `registry.example.com/ml/${step}:v${1 + (i % 5)}.${k}.${Math.floor(r() * 10)}`,
      command: ['python', '-m', `pipeline.${step}`],
      args: [
        '--run-id',
        '{{inputs.parameters.run-id}}',
        '--dataset',
        '{{inputs.parameters.dataset}}',
        '--shard',
        '{{inputs.parameters.shard}}',
        '--seed',
        String(Math.floor(r() * 1e6)),
      ],
      env: [
        { name: 'AWS_REGION', value: 'eu-west-1' },
        { name: 'MLFLOW_TRACKING_URI', value: 'http://mlflow.ml.svc.cluster.local:5000' },
        { name: 'WORKFLOW_NAME', value: '{{workflow.name}}' },
        { name: 'S3_BUCKET', valueFrom: { configMapKeyRef: { name: 'pipeline-config', key: 'bucket' } } },
        { name: 'AWS_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: 'pipeline-s3', key: 'access-key' } } },
        { name: 'AWS_SECRET_ACCESS_KEY', valueFrom: { secretKeyRef: { name: 'pipeline-s3', key: 'secret-key' } } },
      ],
      resources: { requests: { cpu: `${1 + (k % 4)}`, memory: `${2 * (1 + (k % 4))}Gi` }, limits: { cpu: `${2 + (k % 4)}`, memory: `${4 * (1 + (k % 4))}Gi` } },
      volumeMounts: [
        { name: 'work', mountPath: '/work' },
        { name: 'cache', mountPath: '/root/.cache' },
      ],
    },
  }));
  const dag = {
    name: 'main',
    dag: {
      tasks: steps.map((step, k) => ({
        name: step,
        template: step,
        dependencies: k === 0 ? [] : [steps[k - 1]!],
        arguments: {
          parameters: [
            { name: 'run-id', value: '{{workflow.parameters.run-id}}' },
            { name: 'dataset', value: '{{workflow.parameters.dataset}}' },
          ],
        },
      })),
    },
  };
  return {
    apiVersion: 'bench.kubereflect.dev/v1alpha1',
    kind: 'Workflow',
    metadata: {
      name: `train-${word(r, 5)}-${i}`,
      namespace,
      labels: { 'workflows.argoproj.io/workflow-template': 'train', team: ['ml', 'search', 'ads'][i % 3]!, 'run-id': word(r, 12) },
      annotations: { 'workflows.argoproj.io/description': `Nightly training run ${i} over shard set ${i % 16}` },
    },
    spec: {
      entrypoint: 'main',
      serviceAccountName: 'pipeline',
      arguments: {
        parameters: [
          { name: 'run-id', value: word(r, 12) },
          { name: 'dataset', value: `s3://datasets/clicks/${2026 - (i % 3)}/part-${i % 64}` },
        ],
      },
      volumeClaimTemplates: [{ metadata: { name: 'work' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '20Gi' } } } }],
      volumes: [{ name: 'cache', emptyDir: {} }],
      podGC: { strategy: 'OnWorkflowSuccess' },
      ttlStrategy: { secondsAfterCompletion: 86_400 },
      templates: [dag, ...templates],
    },
  };
}

/** The status half of Workflow `i`: one node per step. */
export function workflowStatus(i: number, namespace: string): KubeObject & { status: Record<string, unknown> } {
  const spec = workflowSpec(i, namespace);
  const r = mulberry32(i * 7 + 1);
  const name = spec.metadata!.name!;
  const start = Date.UTC(2026, 10, 1) + i * 60_000;
  const at = (s: number) => new Date(start + s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const steps = (spec.spec.templates as { name: string }[]).slice(1).map((t) => t.name);
  const nodes = Object.fromEntries(
    steps.map((step, k) => {
      const id = `${name}-${Math.floor(r() * 1e10)}`;
      return [
        id,
        {
          id,
          name: `${name}.${step}`,
          displayName: step,
          type: 'Pod',
          templateName: step,
          phase: 'Succeeded',
          startedAt: at(k * 120),
          finishedAt: at(k * 120 + 100),
          progress: '1/1',
          resourcesDuration: { cpu: 100 + k, memory: 400 + k },
          outputs: { artifacts: [{ name: `${step}-out`, s3: { key: `runs/${name}/${step}.tgz` } }], exitCode: '0' },
          hostNodeName: `ip-10-0-${k}-${i % 200}`,
        },
      ];
    }),
  );
  return {
    apiVersion: 'bench.kubereflect.dev/v1alpha1',
    kind: 'Workflow',
    metadata: { name, namespace },
    status: { phase: 'Succeeded', startedAt: at(0), finishedAt: at(steps.length * 120), progress: `${steps.length}/${steps.length}`, nodes },
  };
}

/** The Workflow CRD: spec and status kept as sent (as Argo's own CRD does), with a status subresource. */
const WORKFLOW_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'workflows.bench.kubereflect.dev' },
  spec: {
    group: 'bench.kubereflect.dev',
    scope: 'Namespaced',
    names: { plural: 'workflows', singular: 'workflow', kind: 'Workflow', listKind: 'WorkflowList' },
    versions: [
      {
        name: 'v1alpha1',
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
              status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
            },
          },
        },
      },
    ],
  },
};

const crdResource: ResourceDescriptor = {
  group: 'apiextensions.k8s.io',
  version: 'v1',
  kind: 'CustomResourceDefinition',
  plural: 'customresourcedefinitions',
  namespaced: false,
};
const namespaceResource: ResourceDescriptor = { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false };
const LOAD_ANNOTATION = 'kubereflect.dev/bench-load';

/** Installs the Workflow CRD (idempotent) and waits until it is served. */
async function ensureWorkflowCrd(client: Client): Promise<void> {
  const crds = new Api<KubeObject>(client, crdResource);
  await crds.patch(WORKFLOW_CRD.metadata.name, { type: 'apply', body: WORKFLOW_CRD, force: true }, { fieldManager: 'kubereflect-bench' });
  const probe = new Api<KubeObject>(client, workflowResource, 'default');
  for (let tries = 0; ; tries++) {
    try {
      await probe.list({ limit: 1 });
      return;
    } catch (err) {
      if (tries >= 100) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** What `ensureObjects` did (the shape of `data.ts`'s `LoadResult`, with the kind). */
export interface KindLoadResult {
  kind: BenchKind;
  namespace: string;
  objects: number;
  loaded: boolean;
  seconds: number;
  objectsPerSecond: number;
  at: string;
}

/**
 * Makes sure `namespace` holds objects 0…n-1 of `kind` (not pods: `ensurePods`).
 * A namespace whose annotation records a complete load of this data version
 * is reused without counting again.
 */
export async function ensureObjects(
  client: Client,
  kind: Exclude<BenchKind, 'pods'>,
  namespace: string,
  n: number,
  opts: { concurrency?: number; log?: (line: string) => void } = {},
): Promise<KindLoadResult> {
  const namespaces = new Api<KubeObject>(client, namespaceResource);
  const existing = await namespaces.getIfExists(namespace);
  const recorded = existing?.metadata?.annotations?.[LOAD_ANNOTATION];
  if (recorded) {
    const previous = JSON.parse(recorded) as KindLoadResult & { version: string };
    if (previous.version === DATA_VERSION && previous.objects === n) return { ...previous, loaded: false };
  }
  if (!existing) await namespaces.create({ metadata: { name: namespace, labels: { 'kubereflect.dev/bench': 'true' } } });
  if (kind === 'workflows') await ensureWorkflowCrd(client);
  const api = new Api<KubeObject>(client, resourceOf(kind), namespace);
  opts.log?.(`loading ${n} ${kind} into ${namespace}…`);
  const started = performance.now();
  await parallel(n, opts.concurrency ?? 48, async (i) => {
    const body = kind === 'configmaps' ? configMap(i, namespace) : kind === 'secrets' ? secret(i, namespace) : workflowSpec(i, namespace);
    const name = body.metadata!.name!;
    const manager = kind === 'configmaps' ? 'helm' : kind === 'secrets' ? 'cert-manager-certificates-issuing' : 'argo';
    await api.patch(name, { type: 'apply', body, force: true }, { fieldManager: manager });
    if (kind === 'workflows')
      await api.patchStatus(name, { type: 'apply', body: workflowStatus(i, namespace), force: true }, { fieldManager: 'workflow-controller' });
  });
  const seconds = (performance.now() - started) / 1000;
  const result: KindLoadResult = { kind, namespace, objects: n, loaded: true, seconds, objectsPerSecond: n / seconds, at: new Date().toISOString() };
  await namespaces.patch(namespace, {
    type: 'merge',
    body: { metadata: { annotations: { [LOAD_ANNOTATION]: JSON.stringify({ ...result, version: DATA_VERSION }) } } },
  });
  opts.log?.(`loaded ${n} ${kind} in ${seconds.toFixed(1)} s (${result.objectsPerSecond.toFixed(0)}/s)`);
  return result;
}
