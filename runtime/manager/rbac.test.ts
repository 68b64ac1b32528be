/**
 * The RBAC preflight without a server: the rules and the manifest built from
 * a set of needs (grouping, merging, sorting, subresources, the cluster and
 * namespace split, YAML read back by a real parser, hostile names), and the
 * reviews against a fake client (one per distinct permission, a bounded
 * number at a time, failures typed). test/integration/rbac.test.ts asks the
 * real apiserver.
 */
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { Client, RequestOptions } from '../client/client.ts';
import { ApiError, KubeError, RequestAbortedError } from '../core/errors.ts';
import {
  AccessReviewError,
  checkPermissions,
  currentSubject,
  type Permission,
  permissionsFor,
  RbacError,
  rbacManifest,
  rbacRules,
  requirePermissions,
} from './rbac.ts';

/** Every document of `text`, as plain values, read as YAML 1.2 and as YAML 1.1 (what Go's YAML libraries speak); both must agree. */
function parsed(text: string): unknown[] {
  const read = (version: '1.1' | '1.2') =>
    parseAllDocuments(text, { version }).map((d) => {
      expect(d.errors).toEqual([]);
      return d.toJS();
    });
  const docs = read('1.2');
  expect(read('1.1')).toEqual(docs);
  return docs;
}

const p = (verb: string, group: string, resource: string, namespace?: string, subresource?: string): Permission => ({
  verb,
  group,
  resource,
  ...(namespace === undefined ? {} : { namespace }),
  ...(subresource === undefined ? {} : { subresource }),
});

/** An operator's needs, in no particular order, with repeats. */
const needs: Permission[] = [
  p('watch', '', 'configmaps', 'shop'),
  p('patch', 'example.com', 'widgets', 'shop', 'status'),
  p('list', '', 'secrets', 'shop'),
  p('create', 'events.k8s.io', 'events', 'shop'),
  p('list', '', 'configmaps', 'shop'),
  p('watch', '', 'secrets', 'shop'),
  p('list', '', 'nodes'),
  p('update', 'example.com', 'widgets', 'shop', 'status'),
  p('create', '', 'events', 'shop'),
  p('patch', 'events.k8s.io', 'events', 'shop'),
  p('watch', '', 'nodes'),
  p('patch', '', 'events', 'shop'),
  p('get', 'coordination.k8s.io', 'leases', 'ops'),
  p('list', '', 'configmaps', 'shop'),
  p('watch', 'example.com', 'widgets'),
  p('list', 'example.com', 'widgets'),
  p('update', 'coordination.k8s.io', 'leases', 'ops'),
  p('create', 'coordination.k8s.io', 'leases', 'ops'),
];

describe('rbacRules', () => {
  it('splits cluster-wide from namespaced needs, gathers and sorts verbs, merges resources and groups with equal verbs', () => {
    const rules = rbacRules(needs);
    expect(rules.cluster).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['list', 'watch'] },
      { apiGroups: ['example.com'], resources: ['widgets'], verbs: ['list', 'watch'] },
    ]);
    expect([...rules.namespaces.keys()]).toEqual(['ops', 'shop']);
    expect(rules.namespaces.get('ops')).toEqual([{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create', 'get', 'update'] }]);
    expect(rules.namespaces.get('shop')).toEqual([
      // configmaps and secrets: the same verbs in one group, one rule.
      { apiGroups: [''], resources: ['configmaps', 'secrets'], verbs: ['list', 'watch'] },
      // events in two groups with the same verbs: one rule for both groups.
      { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
      // A subresource is written resource/subresource.
      { apiGroups: ['example.com'], resources: ['widgets/status'], verbs: ['patch', 'update'] },
    ]);
  });

  it('merges only what is identical: other verbs or other resources keep their own rule', () => {
    const rules = rbacRules([
      p('get', '', 'configmaps', 'a'),
      p('get', '', 'secrets', 'a'),
      p('list', '', 'secrets', 'a'),
      p('get', 'apps', 'deployments', 'a'),
      p('get', 'apps', 'configmaps', 'a'),
      p('get', 'example.com', 'widgets', 'a'),
      p('get', 'example.com', 'widgets', 'a', 'status'),
    ]);
    expect(rules.namespaces.get('a')).toEqual([
      { apiGroups: [''], resources: ['configmaps'], verbs: ['get'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'] },
      { apiGroups: ['apps'], resources: ['configmaps', 'deployments'], verbs: ['get'] },
      { apiGroups: ['example.com'], resources: ['widgets', 'widgets/status'], verbs: ['get'] },
    ]);
  });

  it('gives the same rules and the same manifest for the same needs in any order', () => {
    const reversed = [...needs].reverse();
    const shuffled = [...needs].sort((a, b) => (a.verb + a.resource).localeCompare(b.verb + b.resource));
    expect(rbacRules(reversed)).toEqual(rbacRules(needs));
    expect(rbacManifest(shuffled, { name: 'x' })).toBe(rbacManifest(needs, { name: 'x' }));
  });

  it("treats '' as no subresource and no namespace, and refuses malformed permissions", () => {
    expect(rbacRules([{ verb: 'get', group: '', resource: 'nodes', subresource: '', namespace: '' }]).cluster).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['get'] },
    ]);
    expect(() => rbacRules([p('get', '', 'widgets/status', 'a')])).toThrow(/resource must not contain "\/": put the subresource in subresource/);
    expect(() => rbacRules([p('', '', 'pods', 'a')])).toThrow(/verb must be a non-empty string/);
    expect(() => rbacRules([{ verb: 'get', resource: 'pods' } as Permission])).toThrow(/group must be a string/);
    expect(() => rbacRules([p('get', '', '')])).toThrow(KubeError);
  });

  it('permissionsFor: the verbs on a descriptor, in a namespace and of a subresource', () => {
    const widgets = { group: 'example.com', plural: 'widgets' };
    expect(permissionsFor(widgets, ['list', 'watch'], { namespace: 'shop' })).toEqual([
      { verb: 'list', group: 'example.com', resource: 'widgets', namespace: 'shop' },
      { verb: 'watch', group: 'example.com', resource: 'widgets', namespace: 'shop' },
    ]);
    expect(permissionsFor(widgets, ['update'], { subresource: 'status' })).toEqual([
      { verb: 'update', group: 'example.com', resource: 'widgets', subresource: 'status' },
    ]);
  });
});

describe('rbacManifest', () => {
  it('writes a ClusterRole and binding, then a Role and binding per namespace, that read back as the rules', () => {
    const text = rbacManifest(needs, { name: 'shop-operator', subject: { kind: 'ServiceAccount', name: 'shop-operator', namespace: 'ops' } });
    const rules = rbacRules(needs);
    const subjects = [{ kind: 'ServiceAccount', name: 'shop-operator', namespace: 'ops' }];
    const role = (kind: string, namespace?: string) => ({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind,
      metadata: { name: 'shop-operator', ...(namespace ? { namespace } : {}) },
    });
    const roleRef = (kind: string) => ({ apiGroup: 'rbac.authorization.k8s.io', kind, name: 'shop-operator' });
    expect(parsed(text)).toEqual([
      { ...role('ClusterRole'), rules: rules.cluster },
      { ...role('ClusterRoleBinding'), roleRef: roleRef('ClusterRole'), subjects },
      { ...role('Role', 'ops'), rules: rules.namespaces.get('ops') },
      { ...role('RoleBinding', 'ops'), roleRef: roleRef('Role'), subjects },
      { ...role('Role', 'shop'), rules: rules.namespaces.get('shop') },
      { ...role('RoleBinding', 'shop'), roleRef: roleRef('Role'), subjects },
    ]);
    // The text itself: compact flow lists, the core group quoted, plain names bare.
    expect(text.split('---\n')[4]).toBe(
      [
        'apiVersion: rbac.authorization.k8s.io/v1',
        'kind: Role',
        'metadata:',
        '  name: shop-operator',
        '  namespace: shop',
        'rules:',
        '  - apiGroups: [""]',
        '    resources: [configmaps, secrets]',
        '    verbs: [list, watch]',
        '  - apiGroups: ["", events.k8s.io]',
        '    resources: [events]',
        '    verbs: [create, patch]',
        '  - apiGroups: [example.com]',
        '    resources: [widgets/status]',
        '    verbs: [patch, update]',
        '',
      ].join('\n'),
    );
  });

  it('binds a User or a Group with the RBAC apiGroup; without a subject writes the roles only; no needs, no documents', () => {
    const user = parsed(rbacManifest([p('list', '', 'nodes')], { name: 'r', subject: { kind: 'User', name: 'viewer' } }));
    expect(user[1]).toMatchObject({ kind: 'ClusterRoleBinding', subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'viewer' }] });
    const group = parsed(rbacManifest([p('list', '', 'pods', 'a')], { name: 'r', subject: { kind: 'Group', name: 'devs' } }));
    expect(group[1]).toMatchObject({
      kind: 'RoleBinding',
      metadata: { namespace: 'a' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'devs' }],
    });
    expect(parsed(rbacManifest(needs, { name: 'r' })).map((d) => (d as { kind: string }).kind)).toEqual(['ClusterRole', 'Role', 'Role']);
    expect(rbacManifest([], { name: 'r' })).toBe('');
    expect(() => rbacManifest(needs, { name: '' })).toThrow(/needs a non-empty name/);
    expect(() => rbacManifest(needs, { name: 'r', subject: { kind: 'ServiceAccount', name: 'x' } as never })).toThrow(/a ServiceAccount needs its namespace/);
  });

  it('quotes every name that is not a plain DNS name: hostile names stay strings and add no structure', () => {
    const injections = {
      name: 'evil\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole',
      namespace: 'ns\nrules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]',
      group: 'x.io # comment',
      resource: 'pods], verbs: ["*"]  #',
      verbs: [
        '*',
        'yes',
        'no',
        'on',
        'null',
        'true',
        '123',
        '0x1f',
        '1e3',
        '~',
        '-',
        "it's",
        'tab\there',
        'line\u2028sep',
        'nel\u0085',
        'bell\u0007',
        'snow☃',
        'emoji😀',
        'back\\slash"quote',
      ],
      subject: 'me"\n  - kind: Group\n    name: system:masters',
    };
    const hostile = injections.verbs.map((verb) => p(verb, injections.group, injections.resource, injections.namespace));
    const text = rbacManifest([...hostile, p('list', '', 'nodes')], {
      name: injections.name,
      subject: { kind: 'ServiceAccount', name: injections.subject, namespace: injections.namespace },
    });
    // Only the expected lines: nothing a name brought begins a line, and everything outside printable ASCII is escaped.
    expect(text).toMatch(/^[\x20-\x7e\n]*$/);
    expect(text.split('\n').filter((l) => l === '---')).toHaveLength(3);
    const docs = parsed(text) as { kind: string; metadata: { name: string; namespace?: string }; rules?: unknown[]; subjects?: unknown[] }[];
    expect(docs.map((d) => d.kind)).toEqual(['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);
    expect(docs.map((d) => d.metadata)).toEqual([
      { name: injections.name },
      { name: injections.name },
      { name: injections.name, namespace: injections.namespace },
      { name: injections.name, namespace: injections.namespace },
    ]);
    expect(docs[2]!.rules).toEqual([
      { apiGroups: [injections.group], resources: [injections.resource], verbs: [...injections.verbs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)) },
    ]);
    expect(docs[3]!.subjects).toEqual([{ kind: 'ServiceAccount', name: injections.subject, namespace: injections.namespace }]);
    // A plain name stays bare; names YAML would read as something else are quoted.
    expect(text).toContain('verbs: [list]');
    for (const word of ['yes', 'no', 'on', 'null', 'true', '123', '0x1f', '1e3', '~', '-', '*']) expect(text).toContain(`"${word}"`);
  });
});

/** A fake `Client.request` answering access reviews with `answer`; records every request and how many were in flight at most. */
function fakeClient(answer: (attrs: Record<string, string>, req: RequestOptions) => unknown | Promise<unknown>, delayMs = 0) {
  const requests: RequestOptions[] = [];
  let inFlight = 0;
  const state = { maxInFlight: 0 };
  const request = async (req: RequestOptions) => {
    requests.push(req);
    inFlight++;
    state.maxInFlight = Math.max(state.maxInFlight, inFlight);
    try {
      if (delayMs) {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, delayMs);
          req.signal?.addEventListener('abort', () => (clearTimeout(t), reject(new RequestAbortedError(`${req.method} ${req.path}: aborted`))), { once: true });
        });
      }
      if (req.signal?.aborted) throw new RequestAbortedError(`${req.method} ${req.path}: aborted`);
      const body = req.body as { spec?: { resourceAttributes?: Record<string, string> } };
      return await answer(body.spec?.resourceAttributes ?? {}, req);
    } finally {
      inFlight--;
    }
  };
  return { client: { request } as unknown as Pick<Client, 'request'>, requests, state };
}

const allowed = (yes: boolean) => ({ apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', status: { allowed: yes } });

describe('checkPermissions', () => {
  it('posts one SelfSubjectAccessReview per distinct permission and returns the denied ones, sorted', async () => {
    const { client, requests } = fakeClient((a) => allowed(a.resource !== 'secrets' && a.subresource !== 'status' && a.resource !== 'nodes'));
    const missing = await checkPermissions(client, needs);
    expect(missing).toEqual([
      p('list', '', 'nodes'),
      p('watch', '', 'nodes'),
      p('list', '', 'secrets', 'shop'),
      p('watch', '', 'secrets', 'shop'),
      p('patch', 'example.com', 'widgets', 'shop', 'status'),
      p('update', 'example.com', 'widgets', 'shop', 'status'),
    ]);
    expect(requests).toHaveLength(17); // 18 needs, one of them twice
    expect(requests.every((r) => r.method === 'POST' && r.path === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews')).toBe(true);
    const bodies = requests.map((r) => r.body as { spec: { resourceAttributes: unknown } });
    expect(bodies).toContainEqual({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: { verb: 'patch', group: 'example.com', resource: 'widgets', subresource: 'status', namespace: 'shop' } },
    });
    // Cluster-wide: no namespace attribute at all (all namespaces), no subresource.
    expect(bodies.map((b) => b.spec.resourceAttributes)).toContainEqual({ verb: 'list', group: '', resource: 'nodes' });
    expect(await checkPermissions(client, [])).toEqual([]);
  });

  it('keeps at most `concurrency` reviews in flight, and uses them', async () => {
    const many = Array.from({ length: 30 }, (_, i) => p('get', '', 'configmaps', `ns-${i}`));
    const eight = fakeClient(() => allowed(true), 20);
    expect(await checkPermissions(eight.client, many)).toEqual([]);
    expect(eight.state.maxInFlight).toBe(8);
    const two = fakeClient(() => allowed(false), 5);
    expect(await checkPermissions(two.client, many, { concurrency: 2 })).toHaveLength(30);
    expect(two.state.maxInFlight).toBe(2);
    await expect(checkPermissions(two.client, many, { concurrency: 0 })).rejects.toThrow(/concurrency must be a positive integer/);
  });

  it('a review that fails is an AccessReviewError naming the permission it checked, not a denial; the others are abandoned', async () => {
    // Sorted first, so it fails while seven others are in flight and 23 have not started.
    const failing = p('watch', 'coordination.k8s.io', 'leases', 'aaa');
    const { client, requests } = fakeClient((a) => {
      if (a.resource === 'leases' && a.verb === 'watch')
        throw new ApiError('POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { code: 500, reason: 'InternalError', message: 'etcd is down' });
      return allowed(false);
    }, 10);
    const many = [...Array.from({ length: 30 }, (_, i) => p('get', 'coordination.k8s.io', 'leases', `ns-${String(i).padStart(2, '0')}`)), failing];
    const err = await checkPermissions(client, many).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AccessReviewError);
    expect(err).toMatchObject({ code: 'ERR_KUBE_ACCESS_REVIEW', permission: failing });
    expect((err as Error).message).toBe(
      'kubereflect: could not check whether this client may watch leases.coordination.k8s.io in namespace aaa: POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews: 500 InternalError: etcd is down',
    );
    expect((err as Error).cause).toBeInstanceOf(ApiError);
    // The seven in flight were aborted, and none started after the failure.
    expect(requests).toHaveLength(8);
    expect(requests.slice(1).every((r) => r.signal?.aborted)).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    expect(requests).toHaveLength(8);
  });

  it('an answer without status.allowed is an AccessReviewError', async () => {
    const { client } = fakeClient(() => ({ kind: 'Status' }));
    await expect(checkPermissions(client, [p('list', '', 'pods', 'a')])).rejects.toThrow(
      'kubereflect: could not check whether this client may list pods (apiGroups: [""]) in namespace a: POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews: the answer has no boolean status.allowed',
    );
  });

  it('an abort rejects with RequestAbortedError, before or during the reviews', async () => {
    const { client, requests } = fakeClient(() => allowed(true), 1000);
    await expect(checkPermissions(client, needs, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(RequestAbortedError);
    expect(requests).toHaveLength(0);
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 20);
    const started = Date.now();
    await expect(checkPermissions(client, needs, { signal: stop.signal })).rejects.toBeInstanceOf(RequestAbortedError);
    expect(Date.now() - started).toBeLessThan(900);
  });
});

describe('RbacError and requirePermissions', () => {
  it('names each missing permission on its own line, then the manifest granting them', () => {
    const missing = [
      p('watch', '', 'configmaps', 'team-a'),
      p('list', '', 'nodes'),
      p('create', 'coordination.k8s.io', 'leases', 'ops'),
      p('update', 'example.com', 'widgets', 'ops', 'status'),
      p('create', '', 'pods', 'ops', 'eviction'),
      p('list', '', 'nodes'),
    ];
    const subject = { kind: 'ServiceAccount', name: 'op', namespace: 'ops' } as const;
    const err = new RbacError(missing, { name: 'op', subject });
    expect(err).toBeInstanceOf(KubeError);
    expect(err.code).toBe('ERR_KUBE_RBAC');
    expect(err.missing).toHaveLength(5);
    expect(err.rules).toBe(rbacManifest(missing, { name: 'op', subject }));
    expect(err.message).toBe(
      [
        'kubereflect: RBAC denies 5 permissions that op needs (as ServiceAccount ops/op):',
        '  cannot list nodes (apiGroups: [""]) cluster-wide',
        '  cannot create pods/eviction (apiGroups: [""]) in namespace ops',
        '  cannot create leases.coordination.k8s.io in namespace ops',
        '  cannot update widgets.example.com/status in namespace ops',
        '  cannot watch configmaps (apiGroups: [""]) in namespace team-a',
        'grant them with:',
        err.rules.trimEnd(),
      ].join('\n'),
    );
    const roles = new RbacError([p('get', '', 'pods', 'a')], { name: 'op' });
    expect(roles.message.split('\n').slice(0, 3)).toEqual([
      'kubereflect: RBAC denies 1 permission that op needs:',
      '  cannot get pods (apiGroups: [""]) in namespace a',
      'grant them with these roles, bound to the identity the process runs as:',
    ]);
  });

  it('a hostile name cannot add lines to the message', () => {
    const err = new RbacError([p('get\ncannot nothing', '', 'pods\n', 'a b')], { name: 'x\ny' });
    expect(err.message.split('\n').slice(0, 2)).toEqual([
      'kubereflect: RBAC denies 1 permission that "x\\ny" needs:',
      '  cannot "get\\ncannot nothing" "pods\\n" (apiGroups: [""]) in namespace "a b"',
    ]);
  });

  it('requirePermissions resolves when nothing is missing, and otherwise binds to whom the server says the client is', async () => {
    const reviews = (subject: unknown) =>
      fakeClient((a, req) => {
        if (req.path === '/apis/authentication.k8s.io/v1/selfsubjectreviews') {
          if (subject instanceof Error) throw subject;
          return { status: { userInfo: { username: subject, groups: ['system:authenticated'] } } };
        }
        return allowed(a.resource === 'pods');
      });
    const ok = reviews('viewer');
    await requirePermissions(ok.client, [p('list', '', 'pods', 'a')], { name: 'op' });
    expect(ok.requests).toHaveLength(1);

    const sa = reviews('system:serviceaccount:ops:widget-operator');
    const err = (await requirePermissions(sa.client, [p('list', '', 'pods', 'a'), p('list', '', 'nodes')], { name: 'op' }).catch(
      (e: unknown) => e,
    )) as RbacError;
    expect(err).toBeInstanceOf(RbacError);
    expect(err.missing).toEqual([p('list', '', 'nodes')]);
    expect(err.message.split('\n')[0]).toBe('kubereflect: RBAC denies 1 permission that op needs (as ServiceAccount ops/widget-operator):');
    expect(err.rules).toBe(
      rbacManifest([p('list', '', 'nodes')], { name: 'op', subject: { kind: 'ServiceAccount', name: 'widget-operator', namespace: 'ops' } }),
    );

    const given = reviews('ignored');
    const withSubject = (await requirePermissions(given.client, [p('list', '', 'nodes')], { name: 'op', subject: { kind: 'Group', name: 'ops' } }).catch(
      (e: unknown) => e,
    )) as RbacError;
    expect(withSubject.message.split('\n')[0]).toContain('(as Group ops)');
    expect(given.requests.map((r) => r.path)).not.toContain('/apis/authentication.k8s.io/v1/selfsubjectreviews');

    const unknown = reviews(new ApiError('POST /apis/authentication.k8s.io/v1/selfsubjectreviews', { code: 404, reason: 'NotFound' }));
    const rolesOnly = (await requirePermissions(unknown.client, [p('list', '', 'nodes')], { name: 'op' }).catch((e: unknown) => e)) as RbacError;
    expect(rolesOnly).toBeInstanceOf(RbacError);
    expect(parsed(rolesOnly.rules).map((d) => (d as { kind: string }).kind)).toEqual(['ClusterRole']);
  });

  it('currentSubject: a service account token is a ServiceAccount, any other user a User; other failures are thrown', async () => {
    const answering = (answer: () => unknown) => ({ request: async () => answer() }) as unknown as Pick<Client, 'request'>;
    expect(await currentSubject(answering(() => ({ status: { userInfo: { username: 'system:serviceaccount:ops:op' } } })))).toEqual({
      kind: 'ServiceAccount',
      namespace: 'ops',
      name: 'op',
    });
    expect(await currentSubject(answering(() => ({ status: { userInfo: { username: 'alice@example.com' } } })))).toEqual({
      kind: 'User',
      name: 'alice@example.com',
    });
    expect(await currentSubject(answering(() => ({ status: {} })))).toBeUndefined();
    const forbidden = new ApiError('POST /apis/authentication.k8s.io/v1/selfsubjectreviews', { code: 403, reason: 'Forbidden' });
    expect(
      await currentSubject(
        answering(() => {
          throw forbidden;
        }),
      ),
    ).toBeUndefined();
    const broken = new ApiError('POST /apis/authentication.k8s.io/v1/selfsubjectreviews', { code: 500, reason: 'InternalError' });
    await expect(
      currentSubject(
        answering(() => {
          throw broken;
        }),
      ),
    ).rejects.toBe(broken);
  });
});
