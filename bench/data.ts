/**
 * The benchmark data: realistic pods, and a fast loader that puts them into a
 * real kube-apiserver.
 *
 * A pod here looks like one a Deployment made on a production node: seven
 * labels, six annotations, an owner reference to its ReplicaSet, 2–3
 * containers (app, an Envoy sidecar, and for a third of the apps a log
 * shipper) with env (literals, `fieldRef`, `secretKeyRef`, `configMapKeyRef`),
 * resources, probes, ports, security contexts and volume mounts, the
 * projected service-account volume, a preferred anti-affinity, a node name,
 * and a status with five conditions and one container status per container.
 * `managedFields` are not invented: the server writes them, one entry for the
 * spec (applied as `kube-controller-manager`) and one for the status (applied
 * through the `status` subresource as `kubelet`), as in a real cluster.
 *
 * Pods are a pure function of (index, namespace): loading twice changes
 * nothing. The loader applies spec and status with server-side apply, many
 * requests in flight, and records its rate in an annotation of the namespace,
 * so a later run that finds the namespace complete reuses it (and its
 * recorded rate) instead of loading again. Namespaces are never deleted.
 */
import { Api, type Client } from '../runtime/index.ts';
import type { KubeObject } from '../runtime/index.ts';
import type { ObjectList } from '../runtime/cache.ts';
import type { ResourceDescriptor } from '../runtime/kind.ts';
import { mulberry32 } from '../test/support/random.ts';

/** Bumped whenever `podSpec`/`podStatus` change, so that stale namespaces are not reused. */
export const DATA_VERSION = '1';
export const SPEC_MANAGER = 'kube-controller-manager';
export const STATUS_MANAGER = 'kubelet';

export const podResource: ResourceDescriptor = { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true, subresources: ['status'] };
const namespaceResource: ResourceDescriptor = { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false };

/** A pod as the benchmarks see it: any JSON, typed loosely on purpose (the generated `Pod` type is not needed here). */
export interface BenchPod extends KubeObject {
  spec?: Record<string, unknown> & { nodeName?: string };
  status?: Record<string, unknown> & { phase?: string };
}

const ALNUM = 'bcdfghjklmnpqrstvwxz2456789';
function token(r: () => number, n: number, alphabet = ALNUM): string {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(r() * alphabet.length)];
  return s;
}
const hex = (r: () => number, n: number) => token(r, n, '0123456789abcdef');
function uuid(r: () => number): string {
  const h = hex(r, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20)}`;
}

const APPS = [
  'checkout',
  'cart',
  'catalog',
  'search',
  'payments',
  'users',
  'orders',
  'shipping',
  'inventory',
  'pricing',
  'recommendations',
  'reviews',
  'notifications',
  'auth',
  'gateway',
  'ledger',
  'reporting',
  'media',
  'fraud',
  'loyalty',
  'tax',
  'quotes',
  'sessions',
  'audit',
  'ingest',
];
const TEAMS = ['storefront', 'platform', 'fulfilment', 'growth', 'finance'];
const NODES = 50;
const BASE_TIME = Date.UTC(2025, 9, 14, 8, 30, 0);
/** The address of the node pod `index` runs on. */
const nodeIP = (index: number) => `10.0.${Math.floor((index % NODES) / 10)}.${(index % 10) * 20 + 11}`;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Per-app facts shared by its pods (as a ReplicaSet's template would be). */
function appOf(index: number) {
  const a = index % APPS.length;
  const r = mulberry32(1000 + a);
  const name = APPS[a]!;
  return {
    name,
    index: a,
    team: TEAMS[a % TEAMS.length]!,
    version: `v${1 + (a % 4)}.${Math.floor(r() * 20)}.${Math.floor(r() * 10)}`,
    rsHash: token(r, 10),
    rsUid: uuid(r),
    configSum: hex(r, 64),
    imageDigest: hex(r, 64),
    logShipper: a % 3 === 0,
    port: 8080 + (a % 5),
  };
}

/** The name of pod `index` (stable). */
export function podName(index: number): string {
  const app = appOf(index);
  return `${app.name}-${app.rsHash}-${podSuffix(index, token(mulberry32(index * 7919 + 17), 5))}`;
}

/** Above this index, a pod's name suffix is derived from its index (random 5-character suffixes collide by then). */
const RANDOM_SUFFIXES = 10_000;

/**
 * The last part of pod `index`'s name: 5 random characters, as a ReplicaSet's
 * pods have, up to index 9,999 (no two collide there); beyond, 6 characters
 * that spell the index in a scrambled alphabet, unique by construction (at
 * 50,000 pods, random suffixes of one ReplicaSet collide).
 */
function podSuffix(index: number, random: string): string {
  if (index < RANDOM_SUFFIXES) return random;
  let s = '';
  for (let v = index, k = 0; k < 6; k++, v = Math.floor(v / ALNUM.length)) s += ALNUM[(v + 7 * k) % ALNUM.length];
  return s;
}

/** The spec half of pod `index`: what its controller applies. */
export function podSpec(index: number, namespace: string): BenchPod {
  const app = appOf(index);
  const r = mulberry32(index * 7919 + 17);
  const suffix = podSuffix(index, token(r, 5));
  const name = `${app.name}-${app.rsHash}-${suffix}`;
  const tokenVolume = `kube-api-access-${token(r, 5)}`;
  const appEnv = [
    { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
    { name: 'POD_IP', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.podIP' } } },
    { name: 'NODE_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'spec.nodeName' } } },
    { name: 'LOG_LEVEL', value: 'info' },
    { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: 'http://otel-collector.observability.svc.cluster.local:4317' },
    { name: 'OTEL_SERVICE_NAME', value: app.name },
    { name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: `${app.name}-db`, key: 'url' } } },
    { name: 'FEATURE_FLAGS', valueFrom: { configMapKeyRef: { name: `${app.name}-flags`, key: 'flags', optional: true } } },
    { name: 'GOMAXPROCS', valueFrom: { resourceFieldRef: { containerName: app.name, resource: 'limits.cpu', divisor: '1' } } },
  ];
  const securityContext = {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    runAsUser: 10001,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
  const tokenMount = { name: tokenVolume, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true };
  const containers: Record<string, unknown>[] = [
    {
      name: app.name,
      image: `registry.example.com/${app.team}/${app.name}:${app.version}@sha256:${app.imageDigest}`,
      imagePullPolicy: 'IfNotPresent',
      args: ['--config=/etc/app/config.yaml', `--port=${app.port}`, '--metrics-port=9090'],
      ports: [
        { name: 'http', containerPort: app.port, protocol: 'TCP' },
        { name: 'metrics', containerPort: 9090, protocol: 'TCP' },
      ],
      env: appEnv,
      resources: { requests: { cpu: '250m', memory: '512Mi' }, limits: { cpu: '2', memory: '1Gi' } },
      livenessProbe: {
        httpGet: { path: '/healthz', port: 'http', scheme: 'HTTP' },
        initialDelaySeconds: 10,
        periodSeconds: 10,
        timeoutSeconds: 2,
        failureThreshold: 3,
        successThreshold: 1,
      },
      readinessProbe: {
        httpGet: { path: '/readyz', port: 'http', scheme: 'HTTP' },
        periodSeconds: 5,
        timeoutSeconds: 1,
        failureThreshold: 3,
        successThreshold: 1,
      },
      startupProbe: {
        httpGet: { path: '/healthz', port: 'http', scheme: 'HTTP' },
        periodSeconds: 2,
        failureThreshold: 30,
        timeoutSeconds: 1,
        successThreshold: 1,
      },
      volumeMounts: [
        { name: 'config', mountPath: '/etc/app', readOnly: true },
        { name: 'tmp', mountPath: '/tmp' },
        { name: 'cache', mountPath: '/var/cache/app' },
        tokenMount,
      ],
      securityContext,
      terminationMessagePath: '/dev/termination-log',
      terminationMessagePolicy: 'FallbackToLogsOnError',
    },
    {
      name: 'envoy',
      image: 'docker.io/envoyproxy/envoy:v1.31.2@sha256:2bd2ab3f1c8e5c41b4ac1ae5e4a9c3b0ef0e27b1fd4e30e6a0b8d1d8f0c4e6a1',
      imagePullPolicy: 'IfNotPresent',
      args: ['-c', '/etc/envoy/envoy.yaml', '--service-cluster', app.name, '--service-node', '$(POD_NAME)', '--log-level', 'warn'],
      ports: [
        { name: 'envoy-admin', containerPort: 9901, protocol: 'TCP' },
        { name: 'envoy-http', containerPort: 15001, protocol: 'TCP' },
      ],
      env: appEnv.slice(0, 3).concat([{ name: 'ENVOY_UID', value: '0' }]),
      resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
      readinessProbe: {
        httpGet: { path: '/ready', port: 9901, scheme: 'HTTP' },
        periodSeconds: 5,
        timeoutSeconds: 1,
        failureThreshold: 3,
        successThreshold: 1,
      },
      volumeMounts: [{ name: 'envoy-config', mountPath: '/etc/envoy', readOnly: true }, tokenMount],
      securityContext,
      terminationMessagePath: '/dev/termination-log',
      terminationMessagePolicy: 'File',
    },
  ];
  if (app.logShipper) {
    containers.push({
      name: 'fluent-bit',
      image: 'cr.fluentbit.io/fluent/fluent-bit:3.1.9',
      imagePullPolicy: 'IfNotPresent',
      env: [
        { name: 'FLUENT_ELASTICSEARCH_HOST', value: 'logs.observability.svc.cluster.local' },
        { name: 'FLUENT_ELASTICSEARCH_PORT', value: '9200' },
        appEnv[0]!,
        appEnv[1]!,
      ],
      resources: { requests: { cpu: '20m', memory: '32Mi' }, limits: { memory: '64Mi' } },
      volumeMounts: [
        { name: 'varlog', mountPath: '/var/log', readOnly: true },
        { name: 'fluent-bit-config', mountPath: '/fluent-bit/etc/', readOnly: true },
        tokenMount,
      ],
      securityContext,
      terminationMessagePath: '/dev/termination-log',
      terminationMessagePolicy: 'File',
    });
  }
  const volumes: Record<string, unknown>[] = [
    { name: 'config', configMap: { name: `${app.name}-config`, defaultMode: 420 } },
    { name: 'envoy-config', configMap: { name: `${app.name}-envoy`, defaultMode: 420 } },
    { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } },
    { name: 'cache', emptyDir: {} },
    {
      name: tokenVolume,
      projected: {
        defaultMode: 420,
        sources: [
          { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
          { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
          { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
        ],
      },
    },
  ];
  if (app.logShipper) {
    volumes.push(
      { name: 'varlog', hostPath: { path: '/var/log', type: '' } },
      { name: 'fluent-bit-config', configMap: { name: 'fluent-bit', defaultMode: 420 } },
    );
  }
  const selectorLabels = { 'app.kubernetes.io/name': app.name, 'app.kubernetes.io/instance': `${app.name}-prod` };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      labels: {
        ...selectorLabels,
        'app.kubernetes.io/version': app.version,
        'app.kubernetes.io/component': 'server',
        'app.kubernetes.io/part-of': 'shop',
        'pod-template-hash': app.rsHash,
        team: app.team,
      },
      annotations: {
        'kubectl.kubernetes.io/default-container': app.name,
        'kubectl.kubernetes.io/restartedAt': iso(BASE_TIME - 86_400_000 * (1 + app.index)),
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': '9090',
        'prometheus.io/path': '/metrics',
        'checksum/config': app.configSum,
      },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${app.name}-${app.rsHash}`, uid: app.rsUid, controller: true, blockOwnerDeletion: true },
      ],
    },
    spec: {
      nodeName: `ip-${nodeIP(index).replaceAll('.', '-')}.eu-west-1.compute.internal`,
      serviceAccountName: app.name,
      terminationGracePeriodSeconds: 45,
      containers,
      volumes,
      affinity: {
        podAntiAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            {
              weight: 100,
              podAffinityTerm: { labelSelector: { matchLabels: selectorLabels }, topologyKey: 'kubernetes.io/hostname' },
            },
          ],
        },
      },
      topologySpreadConstraints: [
        { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: selectorLabels } },
      ],
      securityContext: { fsGroup: 10001, runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
    },
  };
}

/** The status half of pod `index`: what its kubelet reports. */
export function podStatus(index: number, namespace: string): BenchPod {
  const spec = podSpec(index, namespace);
  const r = mulberry32(index * 104729 + 3);
  const started = BASE_TIME + Math.floor(r() * 3_600_000);
  const hostIP = nodeIP(index);
  const podIP = `10.1.${(index >> 8) & 255}.${index & 255}`;
  const t = (offset: number) => iso(started + offset * 1000);
  const containers = spec.spec!.containers as { name: string; image: string }[];
  const restarted = r() < 0.1;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: spec.metadata!.name, namespace },
    status: {
      phase: 'Running',
      conditions: [
        { type: 'PodReadyToStartContainers', status: 'True', lastProbeTime: null, lastTransitionTime: t(3) },
        { type: 'Initialized', status: 'True', lastProbeTime: null, lastTransitionTime: t(1) },
        { type: 'Ready', status: 'True', lastProbeTime: null, lastTransitionTime: t(14) },
        { type: 'ContainersReady', status: 'True', lastProbeTime: null, lastTransitionTime: t(14) },
        { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: t(0) },
      ],
      hostIP,
      hostIPs: [{ ip: hostIP }],
      podIP,
      podIPs: [{ ip: podIP }],
      startTime: t(0),
      containerStatuses: containers.map((c, i) => ({
        name: c.name,
        state: { running: { startedAt: t(4 + i) } },
        lastState:
          restarted && i === 0
            ? { terminated: { exitCode: 137, reason: 'OOMKilled', startedAt: t(-3600), finishedAt: t(3), containerID: `containerd://${hex(r, 64)}` } }
            : {},
        ready: true,
        restartCount: restarted && i === 0 ? 1 : 0,
        image: c.image.replace(/@sha256:.*/, ''),
        imageID: `${c.image.replace(/[:@].*/, '')}@sha256:${hex(r, 64)}`,
        containerID: `containerd://${hex(r, 64)}`,
        started: true,
      })),
    },
  };
}

/** What `ensurePods` did. */
export interface LoadResult {
  namespace: string;
  pods: number;
  /** True when this call loaded the pods; false when it found them already loaded. */
  loaded: boolean;
  /** Seconds the (original) load took: spec and status applies for every pod. */
  seconds: number;
  /** Pods per second (each pod is two server-side applies). */
  podsPerSecond: number;
  concurrency: number;
  /** When the load happened. */
  at: string;
}

const LOAD_ANNOTATION = 'kubereflect.dev/bench-load';

/** Runs `fn(i)` for i in [0, n) with at most `concurrency` in flight. */
export async function parallel(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
}

/**
 * Makes sure namespace `namespace` holds pods 0…n-1 (spec and status). A
 * namespace whose annotation says it is complete at this `DATA_VERSION` and
 * which holds exactly n pods is reused; otherwise every pod is applied (an
 * apply of an unchanged pod changes nothing).
 */
export async function ensurePods(
  client: Client,
  namespace: string,
  n: number,
  opts: { concurrency?: number; log?: (line: string) => void } = {},
): Promise<LoadResult> {
  const concurrency = opts.concurrency ?? 48;
  const log = opts.log ?? (() => {});
  const namespaces = new Api<KubeObject>(client, namespaceResource);
  const pods = new Api<BenchPod>(client, podResource, namespace);
  const existing = await namespaces.getIfExists(namespace);
  const recorded = existing?.metadata?.annotations?.[LOAD_ANNOTATION];
  if (recorded) {
    const previous = JSON.parse(recorded) as LoadResult & { version: string };
    if (previous.version === DATA_VERSION && previous.pods === n) {
      const count = await countPods(pods);
      if (count === n) return { ...previous, namespace, loaded: false };
    }
  }
  if (!existing) {
    await namespaces.create({ metadata: { name: namespace, labels: { 'kubereflect.dev/bench': 'true' } } });
  }
  log(`loading ${n} pods into ${namespace} (${concurrency} applies in flight)…`);
  const started = performance.now();
  await parallel(n, concurrency, async (i) => {
    const spec = podSpec(i, namespace);
    const name = spec.metadata!.name!;
    await pods.patch(name, { type: 'apply', body: spec, force: true }, { fieldManager: SPEC_MANAGER });
    await pods.patchStatus(name, { type: 'apply', body: podStatus(i, namespace), force: true }, { fieldManager: STATUS_MANAGER });
  });
  const seconds = (performance.now() - started) / 1000;
  const result: LoadResult = { namespace, pods: n, loaded: true, seconds, podsPerSecond: n / seconds, concurrency, at: new Date().toISOString() };
  await namespaces.patch(namespace, {
    type: 'merge',
    body: { metadata: { annotations: { [LOAD_ANNOTATION]: JSON.stringify({ ...result, version: DATA_VERSION }) } } },
  });
  log(`loaded ${n} pods in ${seconds.toFixed(1)} s (${result.podsPerSecond.toFixed(0)} pods/s, ${(2 * result.podsPerSecond).toFixed(0)} applies/s)`);
  return result;
}

async function countPods(pods: Api<BenchPod>): Promise<number> {
  let count = 0;
  for await (const items of pages((o) => pods.metadata().list(o))) count += items.length;
  return count;
}

/**
 * The items of a list, page by page (`limit` per request, 500 by default),
 * following continue tokens to the end.
 *
 * @example
 * for await (const items of pages((o) => api.list(o))) count += items.length;
 */
export async function* pages<T>(list: (opts: { limit: number; continue?: string }) => Promise<ObjectList<T>>, limit = 500): AsyncGenerator<T[]> {
  let cont: string | undefined;
  do {
    const page = await list({ limit, continue: cont });
    yield page.items;
    cont = page.metadata.continue;
  } while (cont);
}

/** The namespace the benchmarks use for n pods. */
export function benchNamespace(n: number): string {
  return `kubereflect-bench-v${DATA_VERSION}-n${n}`;
}
