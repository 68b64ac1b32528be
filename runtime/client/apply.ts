/**
 * Applying manifests — what `kubectl apply --server-side -f` does — from
 * objects already parsed (parse YAML with a parser that keeps keys as they
 * are, such as the `yaml` package's `parseAllDocuments`; @kubernetes/client-node's
 * `loadAllYaml` turns them into its model classes, which rename keys such
 * as `x-kubernetes-list-map-keys`, and the server then refuses the CRD).
 *
 * Each object's resource (plural, scope) comes from the server's discovery
 * of its group and version, read once per group-version. A kind the server
 * does not serve yet — a custom resource whose CRD the same batch just
 * applied — is looked up again until the CRD is established.
 */
import { sleep } from '../core/backoff.ts';
import { ApiError, KubeError } from '../core/errors.ts';
import type { KubeObject, ResourceDescriptor } from '../core/types.ts';
import { Api } from './api.ts';
import type { Client } from './client.ts';

/** Options of {@link applyManifests}. */
export interface ApplyOptions {
  /** The field manager the server records for the applied fields (required by server-side apply). */
  fieldManager: string;
  /** Take over fields another manager owns instead of failing with a conflict (default false). */
  force?: boolean;
  /** The namespace of namespaced objects that name none (default `default`). */
  namespace?: string;
  /** How long to wait for a kind that is not served yet, such as a custom resource of a CRD applied just before (default 30 s). */
  waitForKindMs?: number;
  /** `All` to validate on the server without persisting. */
  dryRun?: 'All';
  signal?: AbortSignal;
}

/** One applied object as the server returned it, with the resource it was written to. */
export interface Applied {
  object: KubeObject;
  resource: ResourceDescriptor;
}

/** An object of a batch could not be applied: which one (its position and identity), and why. */
export class ApplyError extends KubeError {
  override name = 'ApplyError';
  override readonly code = 'ERR_KUBE_APPLY';
  /** The failure of the object at `index` of the batch, said in `message`. */
  constructor(
    message: string,
    /** The position of the object in the batch, from 0. */
    readonly index: number,
    /** What failed: an `ApiError` from the server, or undefined when the object itself was malformed. */
    override readonly cause?: unknown,
  ) {
    super(message, { cause });
  }
}

interface DiscoveredResource {
  name: string;
  kind: string;
  namespaced: boolean;
  verbs?: string[];
}

/**
 * Applies `objects` in order by server-side apply, each to the resource
 * discovery names for its `apiVersion` and `kind`; resolves to what the
 * server returned. Stops at the first object that fails, with an
 * `ApplyError` naming its position, kind and name (the ones before it stay
 * applied). Needs `get` of the discovery endpoints (every authenticated user
 * has it) and, per object, `patch` — and `create` when it does not exist yet.
 *
 * @example
 * import { parseAllDocuments } from 'yaml';
 * const objects = parseAllDocuments(readFileSync('crds/backup.yaml', 'utf8')).map((d) => d.toJS());
 * await applyManifests(client, objects, { fieldManager: 'my-operator' });
 */
export async function applyManifests(client: Client, objects: readonly unknown[], opts: ApplyOptions): Promise<Applied[]> {
  const discovery = new Map<string, Promise<DiscoveredResource[] | undefined>>();
  const discover = (apiVersion: string, fresh: boolean) => {
    if (fresh || !discovery.has(apiVersion)) discovery.set(apiVersion, readDiscovery(client, apiVersion, opts.signal));
    return discovery.get(apiVersion)!;
  };
  const out: Applied[] = [];
  for (const [index, value] of objects.entries()) {
    const object = checked(value, index);
    const { apiVersion, kind } = object;
    const name = object.metadata.name;
    const what = `${kind} ${name} (${apiVersion}, object ${index + 1} of ${objects.length})`;
    const resource = await resolve(discover, apiVersion, kind, opts).catch((err: unknown) => {
      throw new ApplyError(`cannot apply ${what}: ${(err as Error).message}`, index, err);
    });
    if (!resource) {
      throw new ApplyError(
        `cannot apply ${what}: the server does not serve kind ${kind} in ${apiVersion}${apiVersion.includes('/') ? ' (is its CustomResourceDefinition installed and established?)' : ''}`,
        index,
      );
    }
    const namespace = resource.namespaced ? (object.metadata.namespace ?? opts.namespace ?? 'default') : undefined;
    if (!resource.namespaced && object.metadata.namespace) {
      throw new ApplyError(`cannot apply ${what}: kind ${kind} is cluster-scoped, but the object names namespace ${object.metadata.namespace}`, index);
    }
    const api = new Api<KubeObject>(client, resource, namespace);
    const body = namespace && !object.metadata.namespace ? { ...object, metadata: { ...object.metadata, namespace } } : object;
    try {
      const applied = await api.patch(
        name,
        { type: 'apply', body: body as never, ...(opts.force ? { force: true } : {}) },
        { fieldManager: opts.fieldManager, ...(opts.dryRun ? { dryRun: opts.dryRun } : {}), ...(opts.signal ? { signal: opts.signal } : {}) },
      );
      out.push({ object: applied, resource });
    } catch (err) {
      throw new ApplyError(`cannot apply ${what}${namespace ? ` in namespace ${namespace}` : ''}: ${(err as Error).message}`, index, err);
    }
  }
  return out;
}

/** The object, checked to have what an apply needs. */
function checked(value: unknown, index: number): KubeObject & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } } {
  const where = `object ${index + 1}`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ApplyError(`cannot apply ${where}: expected an object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`, index);
  }
  const o = value as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown; generateName?: unknown } };
  for (const field of ['apiVersion', 'kind'] as const) {
    if (typeof o[field] !== 'string' || o[field] === '') throw new ApplyError(`cannot apply ${where}: it has no ${field}`, index);
  }
  if (typeof o.metadata?.name !== 'string' || o.metadata.name === '') {
    throw new ApplyError(
      `cannot apply ${where} (${o.kind as string}): it has no metadata.name (server-side apply needs one; generateName is not enough)`,
      index,
    );
  }
  if (o.metadata.namespace !== undefined && typeof o.metadata.namespace !== 'string') {
    throw new ApplyError(`cannot apply ${where} (${o.kind as string} ${o.metadata.name}): metadata.namespace is not a string`, index);
  }
  return value as never;
}

/** The resource of `kind` in `apiVersion`, waiting up to `waitForKindMs` for a kind the server does not serve yet. */
async function resolve(
  discover: (apiVersion: string, fresh: boolean) => Promise<DiscoveredResource[] | undefined>,
  apiVersion: string,
  kind: string,
  opts: ApplyOptions,
): Promise<ResourceDescriptor | undefined> {
  const deadline = Date.now() + (opts.waitForKindMs ?? 30_000);
  for (let attempt = 0; ; attempt++) {
    const resources = await discover(apiVersion, attempt > 0);
    const found = resources?.find((r) => r.kind === kind && !r.name.includes('/'));
    if (found) {
      const [group, version] = apiVersion.includes('/') ? (apiVersion.split('/') as [string, string]) : ['', apiVersion];
      return {
        group,
        version,
        kind,
        plural: found.name,
        namespaced: found.namespaced,
        ...(found.verbs ? { verbs: found.verbs } : {}),
      };
    }
    if (Date.now() >= deadline) return undefined;
    await sleep(Math.min(250 * 2 ** attempt, 1000), opts.signal); // an abort ends it; the next request then fails as aborted
  }
}

/** The resources of a group-version, or undefined when the server does not serve it (404). */
async function readDiscovery(client: Client, apiVersion: string, signal: AbortSignal | undefined): Promise<DiscoveredResource[] | undefined> {
  const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  try {
    const list = await client.request<{ resources?: DiscoveredResource[] }>({ path, ...(signal ? { signal } : {}) });
    return list.resources ?? [];
  } catch (err) {
    if (err instanceof ApiError && err.statusCode === 404) return undefined;
    throw err;
  }
}
