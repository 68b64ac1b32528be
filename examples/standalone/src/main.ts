/**
 * The backup operator. For each Backup in its namespace it writes the
 * backup plan into a ConfigMap the Backup owns, reports a Ready condition in
 * the Backup's status, and holds a finalizer so that it can clean up before
 * the Backup goes (here it only says so; a real one would delete the stored
 * backups).
 *
 *   npm start -- [--namespace NAME] [--context NAME]
 *
 * The kubeconfig is $KUBECONFIG or ~/.kube/config (or the pod's service
 * account in a cluster). SIGTERM or Ctrl-C stops it, letting reconciles in
 * flight finish first.
 */
import { parseArgs } from 'node:util';
import { Action, Client, Controller, Finalizer, ownerReference, predicates, sameConditions, setCondition, type Stored } from 'kubereflect';
import { ConfigMap } from 'kubereflect/generated/core/v1/configmap';
import { Backup } from './kube/ops.example.com/v1/backup.js';

const FIELD_MANAGER = 'backup-operator';

const { values } = parseArgs({ options: { namespace: { type: 'string', default: 'default' }, context: { type: 'string' } } });
const namespace = values.namespace ?? 'default';
const client = Client.fromDefault(values.context ? { context: values.context } : {});

const backups = Backup.api(client, namespace);
const configMaps = ConfigMap.api(client, namespace);
const cleanup = new Finalizer(backups, 'ops.example.com/cleanup');
// Reconcile when a Backup's spec changes (not on our own status writes) or its ConfigMap changes or goes.
const controller = new Controller(backups, { predicate: predicates.generation }).owns(configMaps);

/** Writes the plan and the status; returns what the controller does next. */
async function reconcile(backup: Stored<Backup>, signal: AbortSignal): Promise<Action> {
  const name = `${backup.metadata.name}-plan`;
  const plan = {
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

for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void controller.shutdown({ deadlineMs: 10_000 }));
console.log(`backup-operator: watching Backups in namespace ${namespace}`);
await controller.run((backup, ctx) =>
  cleanup.run(backup, {
    apply: (b) => reconcile(b, ctx.signal),
    cleanup: async (b) => {
      console.log(`backup-operator: cleaning up after Backup ${b.metadata.name}`);
      return Action.awaitChange();
    },
  }),
);
client.close();
console.log('backup-operator: stopped');
