/**
 * The backup operator. For each Backup in its namespace it writes the
 * backup plan into a ConfigMap the Backup owns, reports a Ready condition in
 * the Backup's status, and holds a finalizer so that it can clean up before
 * the Backup goes (here it only says so; a real one would delete the stored
 * backups).
 *
 *   npm start -- [--namespace NAME] [--context NAME] [--port N]
 *   npm start -- --print-rbac      # the Role it needs, as YAML
 *
 * The kubeconfig is $KUBECONFIG or ~/.kube/config (or the pod's service
 * account in a cluster). It runs on a `Manager`: it checks its RBAC at
 * start (and says which rule is missing), serves /healthz, /readyz and
 * /metrics on --port (default 8080), and SIGTERM or Ctrl-C stops it,
 * letting reconciles in flight finish first (exit code 0).
 */
import { parseArgs } from 'node:util';
import * as prom from 'prom-client';
import { Action, Client, Finalizer, Manager, ownerReference, permissions, predicates, sameConditions, setCondition, type Stored } from 'kubereflect';
import { ConfigMap } from 'kubereflect/generated/core/v1/configmap';
import { Backup } from './kube/ops.example.com/v1/backup.js';

const FIELD_MANAGER = 'backup-operator';

const { values } = parseArgs({
  options: {
    namespace: { type: 'string', default: 'default' },
    context: { type: 'string' },
    port: { type: 'string', default: '8080' },
    'print-rbac': { type: 'boolean', default: false },
  },
});
const namespace = values.namespace ?? 'default';
const client = Client.fromDefault(values.context ? { context: values.context } : {});

const backups = Backup.api(client, namespace);
const configMaps = ConfigMap.api(client, namespace);
const cleanup = new Finalizer(backups, 'ops.example.com/cleanup');

/** Writes the plan and the status; returns what the controller does next. */
async function reconcile(backup: Stored<Backup>, signal: AbortSignal): Promise<Action> {
  const name = `${backup.metadata.name}-plan`;
  const plan: ConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, ownerReferences: [ownerReference(Backup, backup)] },
    data: { schedule: backup.spec?.schedule ?? '', target: backup.spec?.target ?? '', retain: String(backup.spec?.retain ?? 7) },
  };
  await configMaps.patch(name, { type: 'apply', body: plan, force: true }, { fieldManager: FIELD_MANAGER, signal });

  const conditions = setCondition(backup.status?.conditions, {
    type: 'Ready',
    status: 'True',
    reason: 'PlanWritten',
    message: `the plan is in ConfigMap ${name}`,
    observedGeneration: backup.metadata.generation,
  });
  if (backup.status?.observedGeneration !== backup.metadata.generation || !sameConditions(backup.status?.conditions, conditions)) {
    await backups.patchStatus(
      backup.metadata.name,
      { type: 'merge', body: { status: { observedGeneration: backup.metadata.generation, conditions } } },
      { signal },
    );
  }
  return Action.awaitChange();
}

const manager = new Manager(client, {
  name: FIELD_MANAGER,
  endpoints: { port: Number(values.port) },
  metrics: { prom }, // controller-runtime's metric names: dashboards for Go operators read them as they are
  shutdownDeadlineMs: 10_000,
});
manager
  .controller(backups, {
    // Reconcile when a Backup's spec changes (not on our own status writes) or its ConfigMap changes or goes.
    predicate: predicates.generation,
    // What reconcile writes, besides reading Backups and ConfigMaps: the RBAC check at start and --print-rbac include it.
    permissions: [...permissions(configMaps, 'patch'), ...permissions(backups, 'patch'), ...permissions(backups, { subresource: 'status' }, 'patch')],
    reconcile: (backup, ctx) =>
      cleanup.run(backup, {
        apply: (b) => reconcile(b, ctx.signal),
        cleanup: async (b) => {
          console.log(`backup-operator: cleaning up after Backup ${b.metadata.name}`);
          return Action.awaitChange();
        },
      }),
  })
  .owns(configMaps);

if (values['print-rbac']) {
  console.log(manager.rbac({ subject: { kind: 'ServiceAccount', name: FIELD_MANAGER, namespace } }));
} else {
  console.log(`backup-operator: watching Backups in namespace ${namespace}`);
  // Checks RBAC, serves the endpoints, syncs the caches, reconciles; SIGTERM/SIGINT drain it and set the exit code.
  await manager.run().finally(() => client.close());
  console.log('backup-operator: stopped');
}
