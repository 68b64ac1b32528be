/**
 * The RBAC preflight on the real apiserver, as the restricted `viewer` user:
 * of a process's needs, exactly the denied ones come back and the
 * `RbacError` names each; the manifest it prints, applied by an admin,
 * grants them all; removed again, they are denied again.
 *
 * Nothing is ever granted in team-a or cluster-wide on configmaps or pods:
 * other tests rely on viewer being denied configmaps in team-a. The grants
 * here are in a fresh namespace and on priorityclasses, which no other test
 * asks viewer about.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { Namespace } from '../../generated/core/v1/namespace.ts';
import { ClusterRole } from '../../generated/rbac.authorization.k8s.io/v1/clusterrole.ts';
import { ClusterRoleBinding } from '../../generated/rbac.authorization.k8s.io/v1/clusterrolebinding.ts';
import { Role } from '../../generated/rbac.authorization.k8s.io/v1/role.ts';
import { RoleBinding } from '../../generated/rbac.authorization.k8s.io/v1/rolebinding.ts';
import { applyManifests } from '../../runtime/client/apply.ts';
import { Client } from '../../runtime/client/client.ts';
import type { ApiError } from '../../runtime/core/errors.ts';
import { AccessReviewError, type Permission, RbacError, checkPermissions, rbacManifest, requirePermissions } from '../../runtime/manager/rbac.ts';
import { kubeConfig, testNamespace } from '../support/kube.ts';

const name = `kubereflect-rbac-test-${randomBytes(4).toString('hex')}`;
const viewerSubject = { kind: 'User', name: 'viewer' } as const;
let admin: Client;
let viewer: Client;
let ns: string;

const p = (verb: string, group: string, resource: string, namespace?: string): Permission => ({
  verb,
  group,
  resource,
  ...(namespace === undefined ? {} : { namespace }),
});

/** Removes every object the manifest may have created; absent ones are fine. */
async function cleanUp(): Promise<void> {
  await ClusterRoleBinding.api(admin)
    .getIfExists(name)
    .then((o) => o && ClusterRoleBinding.api(admin).delete(name));
  await ClusterRole.api(admin)
    .getIfExists(name)
    .then((o) => o && ClusterRole.api(admin).delete(name));
  if (ns) {
    await RoleBinding.api(admin, ns)
      .getIfExists(name)
      .then((o) => o && RoleBinding.api(admin, ns).delete(name));
    await Role.api(admin, ns)
      .getIfExists(name)
      .then((o) => o && Role.api(admin, ns).delete(name));
  }
}

/** `checkPermissions` until it returns `expected` (RBAC changes reach the authorizer through an informer: quick, not instant), at most 10 s. */
async function eventually(needs: Permission[], expected: Permission[]): Promise<Permission[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const missing = await checkPermissions(viewer, needs);
    if (JSON.stringify(missing) === JSON.stringify(expected) || Date.now() > deadline) return missing;
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  admin = Client.fromFile(inject('kube').kubeconfig, { context: 'admin' });
  viewer = Client.fromFile(inject('kube').kubeconfig, { context: 'viewer' });
  ns = await testNamespace('rbac');
});

afterAll(async () => {
  await cleanUp();
  // Without a controller-manager the namespace stays Terminating; it holds nothing granted any more.
  if (ns) await Namespace.api(admin).delete(ns);
  admin.close();
  viewer.close();
});

describe('the RBAC preflight on the real apiserver', () => {
  it('returns exactly the denied permissions, names each in the RbacError, and its manifest grants them', async () => {
    const needs = [
      // Granted to viewer by the plane's Role pod-reader in team-a.
      p('list', '', 'pods', 'team-a'),
      p('watch', '', 'pods', 'team-a'),
      p('list', '', 'pods', 'team-a'),
      // Denied: configmaps and leases in the fresh namespace, priorityclasses cluster-wide.
      p('watch', '', 'configmaps', ns),
      p('list', '', 'configmaps', ns),
      p('patch', '', 'configmaps', ns),
      p('create', 'coordination.k8s.io', 'leases', ns),
      p('get', 'coordination.k8s.io', 'leases', ns),
      p('update', 'coordination.k8s.io', 'leases', ns),
      p('list', 'scheduling.k8s.io', 'priorityclasses'),
      p('watch', '', 'configmaps', ns),
    ];
    const denied = [
      p('list', 'scheduling.k8s.io', 'priorityclasses'),
      p('list', '', 'configmaps', ns),
      p('patch', '', 'configmaps', ns),
      p('watch', '', 'configmaps', ns),
      p('create', 'coordination.k8s.io', 'leases', ns),
      p('get', 'coordination.k8s.io', 'leases', ns),
      p('update', 'coordination.k8s.io', 'leases', ns),
    ];
    expect(await checkPermissions(viewer, needs)).toEqual(denied);
    // The admin (system:masters) is allowed everything.
    expect(await checkPermissions(admin, needs)).toEqual([]);

    // The error binds to whom the server says the client is: User viewer.
    const err = await requirePermissions(viewer, needs, { name }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RbacError);
    const rbac = err as RbacError;
    expect(rbac.code).toBe('ERR_KUBE_RBAC');
    expect(rbac.missing).toEqual(denied);
    expect(rbac.message.split('\n').slice(0, 10)).toEqual([
      `kubereflect: RBAC denies 7 permissions that ${name} needs (as User viewer):`,
      '  cannot list priorityclasses.scheduling.k8s.io cluster-wide',
      `  cannot list configmaps (apiGroups: [""]) in namespace ${ns}`,
      `  cannot patch configmaps (apiGroups: [""]) in namespace ${ns}`,
      `  cannot watch configmaps (apiGroups: [""]) in namespace ${ns}`,
      `  cannot create leases.coordination.k8s.io in namespace ${ns}`,
      `  cannot get leases.coordination.k8s.io in namespace ${ns}`,
      `  cannot update leases.coordination.k8s.io in namespace ${ns}`,
      'grant them with:',
      'apiVersion: rbac.authorization.k8s.io/v1',
    ]);
    expect(rbac.message.endsWith(rbac.rules.trimEnd())).toBe(true);
    expect(rbac.rules).toBe(rbacManifest(denied, { name, subject: viewerSubject }));

    // The manifest: a ClusterRole for priorityclasses only, a Role in the fresh namespace only, each bound to viewer; nothing in team-a.
    const objects = parseAllDocuments(rbac.rules).map((d) => d.toJS()) as { kind: string; metadata: { namespace?: string }; rules?: unknown }[];
    expect(objects.map((o) => [o.kind, o.metadata.namespace])).toEqual([
      ['ClusterRole', undefined],
      ['ClusterRoleBinding', undefined],
      ['Role', ns],
      ['RoleBinding', ns],
    ]);
    expect(objects[0]!.rules).toEqual([{ apiGroups: ['scheduling.k8s.io'], resources: ['priorityclasses'], verbs: ['list'] }]);
    expect(objects[2]!.rules).toEqual([
      { apiGroups: [''], resources: ['configmaps'], verbs: ['list', 'patch', 'watch'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create', 'get', 'update'] },
    ]);
    expect(objects).toContainEqual(expect.objectContaining({ kind: 'RoleBinding', subjects: [{ apiGroup: 'rbac.authorization.k8s.io', ...viewerSubject }] }));

    try {
      await applyManifests(admin, objects, { fieldManager: 'kubereflect-rbac-test' });
      expect(await eventually(needs, [])).toEqual([]);
      await requirePermissions(viewer, needs, { name });
    } finally {
      await cleanUp();
    }
    // Removed again, denied again.
    expect(await eventually(needs, denied)).toEqual(denied);
  });

  it('a review the server refuses (here: a token it does not know, 401) is an AccessReviewError naming the permission, not a denial', async () => {
    const kc = kubeConfig('viewer');
    const token = `not-a-known-token-${randomBytes(8).toString('hex')}`;
    kc.users = kc.users.map((u) => (u.name === 'viewer' ? { ...u, token } : u));
    const stranger = Client.fromKubeConfig(kc);
    const err = await checkPermissions(stranger, [p('list', 'scheduling.k8s.io', 'priorityclasses')]).catch((e: unknown) => e);
    stranger.close();
    expect(err).toBeInstanceOf(AccessReviewError);
    expect(err).toMatchObject({ code: 'ERR_KUBE_ACCESS_REVIEW', permission: p('list', 'scheduling.k8s.io', 'priorityclasses') });
    expect((err as Error).message).toMatch(
      /^kubereflect: could not check whether this client may list priorityclasses\.scheduling\.k8s\.io cluster-wide: POST \/apis\/authorization\.k8s\.io\/v1\/selfsubjectaccessreviews: 401/,
    );
    expect(((err as Error).cause as ApiError).statusCode).toBe(401);
    expect((err as Error).message).not.toContain(token);
  });
});
