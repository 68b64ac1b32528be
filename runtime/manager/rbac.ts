/**
 * RBAC that explains itself: a preflight that asks the server, before any
 * cache starts, whether this client holds every permission a process needs,
 * and the minimal RBAC manifest that would grant the missing ones.
 *
 * Without it, a controller whose role lacks `list` or `watch` on one kind
 * never syncs that kind's cache and idles with nothing but 403 warnings in
 * its log. With it, start-up fails with one `RbacError` that names each
 * missing permission and prints the Roles and ClusterRoles granting exactly
 * those.
 *
 * The check posts one `authorization.k8s.io/v1` `SelfSubjectAccessReview` per
 * distinct permission, a few at a time; every authenticated user may create
 * them (the `system:basic-user` ClusterRole). The manifest is written here,
 * deterministically: the same needs give the same text, and no name can
 * change its structure.
 */
import type { Client } from '../client/client.ts';
import { ApiError, KubeError, RequestAbortedError } from '../core/errors.ts';
import type { ResourceDescriptor } from '../core/types.ts';

/**
 * One thing a process needs to be allowed to do: a verb on a resource (or
 * one of its subresources), in one namespace or cluster-wide.
 */
export interface Permission {
  /** The verb as RBAC names it: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`, or a custom one. */
  readonly verb: string;
  /** The API group; `''` for the core group. */
  readonly group: string;
  /** The plural resource name, e.g. `configmaps` (without a subresource: that goes in `subresource`). */
  readonly resource: string;
  /** A subresource, e.g. `status` or `scale`; absent for the resource itself. */
  readonly subresource?: string;
  /**
   * The namespace. Undefined: a cluster-scoped resource, or a namespaced one
   * in all namespaces — either way, it takes a ClusterRole.
   */
  readonly namespace?: string | undefined;
}

/** One rule of a Role or ClusterRole, as RBAC writes it; `resources` name subresources as `resource/subresource`. */
export interface PolicyRule {
  /** API groups, sorted; `''` is the core group. */
  readonly apiGroups: readonly string[];
  /** Resources, sorted, e.g. `configmaps`, `widgets/status`. */
  readonly resources: readonly string[];
  /** Verbs, sorted. */
  readonly verbs: readonly string[];
}

/** The minimal rules for a set of needs: cluster-wide ones for a ClusterRole, namespaced ones for a Role per namespace. */
export interface RbacRules {
  /** Rules for the needs without a namespace. */
  readonly cluster: readonly PolicyRule[];
  /** Rules per namespace, namespaces in sorted order. */
  readonly namespaces: ReadonlyMap<string, readonly PolicyRule[]>;
}

/** Whom a binding grants the rules to. */
export type RbacSubject =
  | { readonly kind: 'ServiceAccount'; readonly name: string; readonly namespace: string }
  | { readonly kind: 'User' | 'Group'; readonly name: string };

/** What {@link rbacManifest} names and binds. */
export interface ManifestOptions {
  /** The name of every ClusterRole, Role and binding written, e.g. the operator's name. */
  name: string;
  /** Whom to bind the roles to; without it, only the roles are written. */
  subject?: RbacSubject | undefined;
}

/** Options of {@link checkPermissions}. */
export interface CheckOptions {
  /** Abandons the check; it then rejects with `RequestAbortedError`. */
  signal?: AbortSignal | undefined;
  /** How many reviews are in flight at most (default 8). */
  concurrency?: number;
}

const RBAC_GROUP = 'rbac.authorization.k8s.io';
const RBAC_VERSION = `${RBAC_GROUP}/v1`;
const ACCESS_REVIEWS = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';
const SELF_REVIEWS = '/apis/authentication.k8s.io/v1/selfsubjectreviews';

/**
 * A review of one permission could not be made or its answer not read: the
 * server failed, the connection did, or the answer was not a review. This is
 * not a denial — a denied permission is simply returned as missing.
 *
 * @example
 * const missing = await checkPermissions(client, needs).catch((err: unknown) => {
 *   if (err instanceof AccessReviewError) console.error(`while checking ${err.permission.verb} ${err.permission.resource}:`, err.cause);
 *   throw err;
 * });
 */
export class AccessReviewError extends KubeError {
  override name = 'AccessReviewError';
  override readonly code = 'ERR_KUBE_ACCESS_REVIEW';
  /** The permission being checked. */
  readonly permission: Permission;

  /** Checking `permission` failed as `problem` says; `cause` is the underlying error, if any. */
  constructor(permission: Permission, problem: string, cause?: unknown) {
    super(`kubereflect: could not check whether this client may ${describePermission(permission)}: ${problem}`, cause === undefined ? undefined : { cause });
    this.permission = permission;
  }
}

/**
 * The server denies permissions the process needs. The message names each,
 * one line apiece, and ends with the manifest that grants exactly them
 * (`rules`).
 *
 * @example
 * try {
 *   await requirePermissions(client, needs, { name: 'widget-operator' });
 * } catch (err) {
 *   if (err instanceof RbacError) writeFileSync('rbac.yaml', err.rules);
 *   throw err;
 * }
 */
export class RbacError extends KubeError {
  override name = 'RbacError';
  override readonly code = 'ERR_KUBE_RBAC';
  /** The missing permissions, de-duplicated, in the order of {@link checkPermissions}. */
  readonly missing: readonly Permission[];
  /** The YAML (one document per object, separated by `---`) of the roles, and bindings when the subject is known, granting `missing`. */
  readonly rules: string;

  /** `missing` is denied; `manifest` names the roles to print and whom to bind them to. */
  constructor(missing: readonly Permission[], manifest: ManifestOptions) {
    const distinct = distinctPermissions(missing);
    const rules = rbacManifest(distinct, manifest);
    const who = manifest.subject ? ` (as ${describeSubject(manifest.subject)})` : '';
    const count = `${distinct.length} permission${distinct.length === 1 ? '' : 's'}`;
    const grant = manifest.subject ? 'grant them with:' : 'grant them with these roles, bound to the identity the process runs as:';
    super(
      [
        `kubereflect: RBAC denies ${count} that ${quoted(manifest.name)} needs${who}:`,
        ...distinct.map((p) => `  cannot ${describePermission(p)}`),
        grant,
        rules.trimEnd(),
      ].join('\n'),
    );
    this.missing = distinct;
    this.rules = rules;
  }
}

/**
 * The permissions of `verbs` on a resource, in `namespace` (undefined:
 * cluster-scoped or all namespaces), optionally of one subresource.
 *
 * @example
 * const needs = [
 *   ...permissionsFor(widgets.resource, ['list', 'watch'], { namespace: widgets.namespace }),
 *   ...permissionsFor(widgets.resource, ['update', 'patch'], { namespace: widgets.namespace, subresource: 'status' }),
 * ];
 */
export function permissionsFor(
  resource: Pick<ResourceDescriptor, 'group' | 'plural'>,
  verbs: readonly string[],
  opts: { namespace?: string | undefined; subresource?: string | undefined } = {},
): Permission[] {
  return verbs.map((verb) =>
    checked({
      verb,
      group: resource.group,
      resource: resource.plural,
      ...(opts.subresource ? { subresource: opts.subresource } : {}),
      namespace: opts.namespace,
    }),
  );
}

/**
 * Asks the server which of `needs` this client lacks: one
 * `SelfSubjectAccessReview` per distinct permission, at most
 * `opts.concurrency` (8) at a time. Resolves to the denied ones,
 * de-duplicated and sorted: cluster-wide first, then by namespace, group,
 * resource, subresource and verb.
 *
 * @throws AccessReviewError when a review fails (which permission it was checking, and why); the other reviews are then abandoned.
 * @throws RequestAbortedError when `opts.signal` aborts.
 * @example
 * const missing = await checkPermissions(client, [
 *   { verb: 'list', group: '', resource: 'configmaps', namespace: 'shop' },
 *   { verb: 'watch', group: '', resource: 'configmaps', namespace: 'shop' },
 * ]);
 * if (missing.length) throw new RbacError(missing, { name: 'shop-operator' });
 */
export async function checkPermissions(client: Pick<Client, 'request'>, needs: Iterable<Permission>, opts: CheckOptions = {}): Promise<Permission[]> {
  const distinct = distinctPermissions(needs);
  const limit = opts.concurrency ?? 8;
  if (!Number.isInteger(limit) || limit < 1) throw new KubeError(`kubereflect: checkPermissions: concurrency must be a positive integer (got ${limit})`);
  if (opts.signal?.aborted) throw new RequestAbortedError('kubereflect: checking RBAC permissions: aborted');
  // The first failure abandons the reviews still in flight; their aborts are not reported.
  const stop = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  const allowed: boolean[] = new Array(distinct.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < distinct.length) {
      const i = next++;
      try {
        allowed[i] = await review(client, distinct[i]!, signal);
      } catch (error) {
        if (failure === undefined) {
          failure = { error };
          stop.abort();
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, distinct.length) }, worker));
  if (failure !== undefined) throw failure.error;
  return distinct.filter((_, i) => !allowed[i]);
}

/**
 * Checks `needs` like {@link checkPermissions} and throws an `RbacError`
 * when any is denied. The error's manifest binds the roles to
 * `opts.subject`, or, without one, to the identity the server reports for
 * this client (see {@link currentSubject}; roles only when it reports none).
 *
 * @throws RbacError naming every missing permission, with the rules that grant them.
 * @throws AccessReviewError when a review fails.
 * @example
 * await requirePermissions(client, needs, { name: 'widget-operator' }); // before starting any cache
 */
export async function requirePermissions(client: Pick<Client, 'request'>, needs: Iterable<Permission>, opts: ManifestOptions & CheckOptions): Promise<void> {
  const missing = await checkPermissions(client, needs, opts);
  if (missing.length === 0) return;
  const subject = opts.subject ?? (await currentSubject(client, opts));
  throw new RbacError(missing, { name: opts.name, subject });
}

/**
 * Whom the server takes this client for, as an RBAC subject: a
 * `ServiceAccount` for a service account's token, a `User` otherwise. Asks
 * with an `authentication.k8s.io/v1` `SelfSubjectReview`; resolves to
 * undefined when the server does not serve it or does not allow it (404, 403).
 *
 * @throws ApiError for any other failure, and the client's errors.
 * @example
 * const me = await currentSubject(client); // { kind: 'ServiceAccount', name: 'widget-operator', namespace: 'ops' }
 */
export async function currentSubject(client: Pick<Client, 'request'>, opts: { signal?: AbortSignal | undefined } = {}): Promise<RbacSubject | undefined> {
  let answer: { status?: { userInfo?: { username?: unknown } } } | null;
  try {
    answer = await client.request({
      method: 'POST',
      path: SELF_REVIEWS,
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      signal: opts.signal,
    });
  } catch (err) {
    if (err instanceof ApiError && (err.statusCode === 404 || err.statusCode === 403)) return undefined;
    throw err;
  }
  const username = answer?.status?.userInfo?.username;
  if (typeof username !== 'string' || username === '') return undefined;
  const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username);
  return sa ? { kind: 'ServiceAccount', namespace: sa[1]!, name: sa[2]! } : { kind: 'User', name: username };
}

/**
 * The minimal rules granting `needs`: cluster-wide needs in `cluster`,
 * namespaced ones per namespace. A resource's verbs are gathered and sorted;
 * resources of one group with the same verbs share a rule, and so do groups
 * with the same resources and verbs. Rules are sorted, so equal needs give
 * equal rules in any order.
 *
 * @example
 * rbacRules([
 *   { verb: 'watch', group: '', resource: 'configmaps', namespace: 'shop' },
 *   { verb: 'list', group: '', resource: 'configmaps', namespace: 'shop' },
 * ]).namespaces.get('shop'); // [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list', 'watch'] }]
 */
export function rbacRules(needs: Iterable<Permission>): RbacRules {
  const scopes = new Map<string | undefined, Permission[]>();
  for (const p of distinctPermissions(needs)) {
    const list = scopes.get(p.namespace);
    if (list) list.push(p);
    else scopes.set(p.namespace, [p]);
  }
  const namespaces = new Map<string, readonly PolicyRule[]>();
  // distinctPermissions sorted them: cluster-wide first, then namespaces in order.
  for (const [namespace, list] of scopes) if (namespace !== undefined) namespaces.set(namespace, rulesOf(list));
  return { cluster: rulesOf(scopes.get(undefined) ?? []), namespaces };
}

/**
 * The RBAC manifest granting exactly `needs`, as YAML: a ClusterRole for the
 * cluster-wide needs and a Role per namespace for the namespaced ones, each
 * followed by its binding to `opts.subject` when there is one; documents
 * separated by `---`, the empty string for no needs. Names that are not
 * plain lower-case DNS names are double-quoted with every special character
 * escaped, so no name can add or change structure.
 *
 * @example
 * writeFileSync('rbac.yaml', rbacManifest(needs, { name: 'shop-operator', subject: { kind: 'ServiceAccount', name: 'shop-operator', namespace: 'ops' } }));
 */
export function rbacManifest(needs: Iterable<Permission>, opts: ManifestOptions): string {
  if (typeof opts.name !== 'string' || opts.name === '') throw new KubeError('kubereflect: rbacManifest needs a non-empty name for the roles');
  if (opts.subject) checkSubject(opts.subject);
  const { cluster, namespaces } = rbacRules(needs);
  const docs: string[][] = [];
  const add = (namespace: string | undefined, rules: readonly PolicyRule[]) => {
    const [role, binding] = namespace === undefined ? ['ClusterRole', 'ClusterRoleBinding'] : ['Role', 'RoleBinding'];
    const metadata = ['metadata:', `  name: ${yamlString(opts.name)}`, ...(namespace === undefined ? [] : [`  namespace: ${yamlString(namespace)}`])];
    docs.push([
      `apiVersion: ${RBAC_VERSION}`,
      `kind: ${role}`,
      ...metadata,
      'rules:',
      ...rules.flatMap((r) => [`  - apiGroups: ${flowList(r.apiGroups)}`, `    resources: ${flowList(r.resources)}`, `    verbs: ${flowList(r.verbs)}`]),
    ]);
    if (opts.subject) {
      docs.push([
        `apiVersion: ${RBAC_VERSION}`,
        `kind: ${binding}`,
        ...metadata,
        'roleRef:',
        `  apiGroup: ${RBAC_GROUP}`,
        `  kind: ${role}`,
        `  name: ${yamlString(opts.name)}`,
        'subjects:',
        ...subjectLines(opts.subject),
      ]);
    }
  };
  if (cluster.length) add(undefined, cluster);
  for (const [namespace, rules] of namespaces) add(namespace, rules);
  return docs.map((lines) => `${lines.join('\n')}\n`).join('---\n');
}

/** One review: whether the server allows `p`. */
async function review(client: Pick<Client, 'request'>, p: Permission, signal: AbortSignal): Promise<boolean> {
  let answer: { status?: { allowed?: unknown } } | null;
  try {
    answer = await client.request({
      method: 'POST',
      path: ACCESS_REVIEWS,
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SelfSubjectAccessReview',
        spec: {
          resourceAttributes: {
            verb: p.verb,
            group: p.group,
            resource: p.resource,
            ...(p.subresource ? { subresource: p.subresource } : {}),
            ...(p.namespace ? { namespace: p.namespace } : {}),
          },
        },
      },
      signal,
    });
  } catch (err) {
    if (err instanceof RequestAbortedError) throw err;
    throw new AccessReviewError(p, err instanceof Error ? err.message : String(err), err);
  }
  // A denial may come with an evaluationError (a binding to a role that does not exist): still a denial.
  const allowed = answer?.status?.allowed;
  if (typeof allowed !== 'boolean') throw new AccessReviewError(p, `POST ${ACCESS_REVIEWS}: the answer has no boolean status.allowed`);
  return allowed;
}

/** `needs` checked, normalised, de-duplicated and sorted. */
function distinctPermissions(needs: Iterable<Permission>): Permission[] {
  const seen = new Map<string, Permission>();
  for (const need of needs) {
    const p = checked(need);
    const key = JSON.stringify([p.namespace ?? null, p.group, p.resource, p.subresource ?? null, p.verb]);
    if (!seen.has(key)) seen.set(key, p);
  }
  return [...seen.values()].sort(comparePermissions);
}

/** A frozen copy of `p` with only its set fields (`''` subresource or namespace: none), or a KubeError saying what is wrong. */
function checked(p: Permission): Permission {
  const wrong = (what: string) => new KubeError(`kubereflect: permission ${JSON.stringify(p)}: ${what}`);
  if (typeof p !== 'object' || p === null) throw new KubeError(`kubereflect: a permission must be an object (got ${p === null ? 'null' : typeof p})`);
  if (typeof p.verb !== 'string' || p.verb === '') throw wrong('verb must be a non-empty string');
  if (typeof p.group !== 'string') throw wrong("group must be a string ('' for the core group)");
  if (typeof p.resource !== 'string' || p.resource === '') throw wrong('resource must be a non-empty string');
  if (p.resource.includes('/')) throw wrong('resource must not contain "/": put the subresource in subresource');
  if (p.subresource !== undefined && (typeof p.subresource !== 'string' || p.subresource.includes('/')))
    throw wrong('subresource must be a string without "/"');
  if (p.namespace !== undefined && typeof p.namespace !== 'string') throw wrong('namespace must be a string or undefined');
  return Object.freeze({
    verb: p.verb,
    group: p.group,
    resource: p.resource,
    ...(p.subresource ? { subresource: p.subresource } : {}),
    ...(p.namespace ? { namespace: p.namespace } : {}),
  });
}

function checkSubject(s: RbacSubject): void {
  const fail = (what: string) => new KubeError(`kubereflect: rbacManifest: subject ${JSON.stringify(s)}: ${what}`);
  if (s.kind !== 'ServiceAccount' && s.kind !== 'User' && s.kind !== 'Group') throw fail('kind must be ServiceAccount, User or Group');
  if (typeof s.name !== 'string' || s.name === '') throw fail('name must be a non-empty string');
  if (s.kind === 'ServiceAccount' && (typeof s.namespace !== 'string' || s.namespace === '')) throw fail('a ServiceAccount needs its namespace');
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Element by element; a list before the longer lists it begins. */
function compareLists(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = compare(a[i]!, b[i]!);
    if (c) return c;
  }
  return a.length - b.length;
}

function comparePermissions(a: Permission, b: Permission): number {
  if (a.namespace !== b.namespace) {
    if (a.namespace === undefined) return -1;
    if (b.namespace === undefined) return 1;
    return compare(a.namespace, b.namespace);
  }
  return compare(a.group, b.group) || compare(a.resource, b.resource) || compare(a.subresource ?? '', b.subresource ?? '') || compare(a.verb, b.verb);
}

/** The rules of one scope: verbs gathered per (group, resource), resources of a group with equal verbs merged, then groups with equal resources and verbs. */
function rulesOf(needs: readonly Permission[]): PolicyRule[] {
  const verbs = new Map<string, { group: string; resource: string; verbs: Set<string> }>();
  for (const p of needs) {
    const resource = p.subresource ? `${p.resource}/${p.subresource}` : p.resource;
    const key = JSON.stringify([p.group, resource]);
    const entry = verbs.get(key) ?? { group: p.group, resource, verbs: new Set<string>() };
    entry.verbs.add(p.verb);
    verbs.set(key, entry);
  }
  // One group: resources with the same verbs share a rule.
  const byGroup = new Map<string, { group: string; verbs: string[]; resources: string[] }>();
  for (const e of verbs.values()) {
    const sorted = [...e.verbs].sort(compare);
    const key = JSON.stringify([e.group, sorted]);
    const rule = byGroup.get(key) ?? { group: e.group, verbs: sorted, resources: [] };
    rule.resources.push(e.resource);
    byGroup.set(key, rule);
  }
  // Groups with the same resources and verbs share a rule: the cross product is exactly what they need.
  const merged = new Map<string, { apiGroups: string[]; resources: string[]; verbs: string[] }>();
  for (const r of byGroup.values()) {
    const resources = r.resources.sort(compare);
    const key = JSON.stringify([resources, r.verbs]);
    const rule = merged.get(key) ?? { apiGroups: [], resources, verbs: r.verbs };
    rule.apiGroups.push(r.group);
    merged.set(key, rule);
  }
  const rules = [...merged.values()].map((r) => Object.freeze({ apiGroups: r.apiGroups.sort(compare), resources: r.resources, verbs: r.verbs }));
  return rules.sort((a, b) => compareLists(a.apiGroups, b.apiGroups) || compareLists(a.resources, b.resources) || compareLists(a.verbs, b.verbs));
}

/** `verb resource scope` for messages: `watch configmaps (apiGroups: [""]) in namespace team-a`, `create leases.coordination.k8s.io in namespace ops`. */
function describePermission(p: Permission): string {
  const resource = p.group === '' ? quoted(p.resource) : quoted(`${p.resource}.${p.group}`);
  const what = `${resource}${p.subresource ? `/${quoted(p.subresource)}` : ''}${p.group === '' ? ' (apiGroups: [""])' : ''}`;
  return `${quoted(p.verb)} ${what} ${p.namespace === undefined ? 'cluster-wide' : `in namespace ${quoted(p.namespace)}`}`;
}

function describeSubject(s: RbacSubject): string {
  return s.kind === 'ServiceAccount' ? `ServiceAccount ${quoted(s.namespace)}/${quoted(s.name)}` : `${s.kind} ${quoted(s.name)}`;
}

/** A name as it is when it is made of name characters only, otherwise JSON-quoted: a message line stays one line. */
function quoted(name: string): string {
  return /^[A-Za-z0-9._:-]+$/.test(name) ? name : JSON.stringify(name);
}

function subjectLines(s: RbacSubject): string[] {
  return s.kind === 'ServiceAccount'
    ? ['  - kind: ServiceAccount', `    name: ${yamlString(s.name)}`, `    namespace: ${yamlString(s.namespace)}`]
    : [`  - apiGroup: ${RBAC_GROUP}`, `    kind: ${s.kind}`, `    name: ${yamlString(s.name)}`];
}

function flowList(items: readonly string[]): string {
  return `[${items.map(yamlString).join(', ')}]`;
}

/** Words YAML 1.1 or 1.2 reads as something other than a string. */
const RESERVED = new Set(['y', 'n', 'yes', 'no', 'on', 'off', 'true', 'false', 'null']);

/**
 * `s` as a YAML scalar: plain when it is a lower-case DNS name (or such
 * names joined by `/`) that every YAML version reads as that string
 * (`configmaps`, `coordination.k8s.io`, `widgets/status`),
 * otherwise double-quoted with `"`, `\` and everything outside printable
 * ASCII escaped — valid in a flow sequence, on one line, and nothing but a
 * string.
 */
function yamlString(s: string): string {
  if (/^[a-z]([a-z0-9./-]*[a-z0-9])?$/.test(s) && !RESERVED.has(s)) return s;
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (cp >= 0x20 && cp < 0x7f) out += ch;
    else if (cp <= 0xffff) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}
