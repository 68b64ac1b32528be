/**
 * The example operator, shared by `examples/operator.ts`, the demo and the
 * controller's integration tests: for each Widget, a ConfigMap owned by it
 * and built from its spec; the Widget's status (a Ready condition and
 * `observedGeneration`); a record in an external system (here a map in
 * memory, standing in for DNS, a bucket, a ticket…) that a finalizer
 * removes before the Widget may go; and events about what it did.
 *
 * `widgetOperator` wires it as a `Controller`, `widgetOperatorOn` declares
 * it on a `Manager`.
 *
 * It never takes over a ConfigMap it does not control: a ConfigMap of the
 * same name without the Widget as its controlling owner is an error
 * (reported as a Warning event), not something to overwrite.
 */
import { ConfigMap } from '../../generated/core/v1/configmap.ts';
import {
  Action,
  Controller,
  Finalizer,
  Recorder,
  allNamespaces,
  isControlledBy,
  permissions,
  type Manager,
  type ReconcileContext,
  ownerReference,
  predicates,
  setCondition,
  type Client,
  type Logger,
  type Stored,
} from '../../runtime/index.ts';
import { sameConditions } from '../../runtime/index.ts';
import type { AllNamespaces } from '../../runtime/kinds/kind.ts';
import type { ControllerMetrics } from '../../runtime/metrics.ts';
import type { ShardRange, ShardTerm } from '../../runtime/scale.ts';
import type { WatcherConfig } from '../../runtime/cache.ts';
import { Widget } from '../generated/demo.kubereflect.dev/v1/widget.ts';

/** The operator's field manager, finalizer and event source. */
export const OPERATOR = 'demo.kubereflect.dev/widget-operator';
export const FINALIZER = 'demo.kubereflect.dev/external-record';

/** A stand-in for an external system: one record per Widget uid. */
export class ExternalRecords {
  readonly records = new Map<string, string>();
  /** Every removal, in order: `namespace/name@uid`. */
  readonly removals: string[] = [];
  /** Called with each Widget just before its record is removed (the tests check it still exists). */
  onRemove: (widget: Stored<Widget>) => Promise<void> | void = () => {};

  /** What happened to each record, by uid: `upsert@<resourceVersion>` and `remove@<resourceVersion>`. */
  readonly history = new Map<string, string[]>();

  upsert(widget: Stored<Widget>, summary: string): void {
    this.records.set(widget.metadata.uid, summary);
    this.note(widget, 'upsert');
  }

  private note(widget: Stored<Widget>, what: string): void {
    const h = this.history.get(widget.metadata.uid) ?? [];
    h.push(`${what}@${widget.metadata.resourceVersion}${widget.metadata.deletionTimestamp ? ' (deleting)' : ''}`);
    this.history.set(widget.metadata.uid, h.slice(-10));
  }

  async remove(widget: Stored<Widget>): Promise<void> {
    await this.onRemove(widget);
    this.records.delete(widget.metadata.uid);
    this.note(widget, 'remove');
    this.removals.push(`${widget.metadata.namespace}/${widget.metadata.name}@${widget.metadata.uid}`);
  }
}

/** The ConfigMap a Widget asks for. */
export function configMapName(widget: Stored<Widget>): string {
  return `${widget.metadata.name}-widget`;
}

function desiredData(widget: Stored<Widget>): Record<string, string> {
  const spec = widget.spec;
  return {
    color: spec?.color ?? '',
    size: String(spec?.size ?? ''),
    replicas: String(spec?.replicas ?? 1),
    parts: (spec?.parts ?? []).map((p) => `${p.count ?? 1}x${p.name}`).join(','),
  };
}

/** Equal maps, whatever the order of their keys (the server returns them sorted). */
function sameData(a: Readonly<Record<string, string>> | undefined, b: Record<string, string>): boolean {
  const keys = Object.keys(b);
  return Object.keys(a ?? {}).length === keys.length && keys.every((k) => a?.[k] === b[k]);
}

export interface OperatorOptions {
  /** Reconciles at once (default the controller's, 8). */
  concurrency?: number;
  metrics?: ControllerMetrics;
  logger?: Logger;
  /** Where the external records live (default a new one). */
  records?: ExternalRecords;
  /** Configuration of the operator's watches (Widgets, and ConfigMaps metadata-only). */
  watcher?: WatcherConfig;
  /** Told of each Widget as its reconcile begins (the examples show who reconciled what). */
  observe?: (widget: Stored<Widget>) => void;
  /** Reconcile only the Widgets of this range of the uid hash: a `ShardRing` member's term (the controller follows it), or a fixed range. */
  shard?: ShardRange | ShardTerm;
}

/**
 * Wires the operator for Widgets in `namespace` (or all namespaces) as a
 * `Controller`: `controller.run(reconcile)` starts it.
 */
export function widgetOperator(client: Client, namespace: string | AllNamespaces, opts: OperatorOptions = {}) {
  const op = widgetParts(client, namespace, opts);
  const controller = new Controller(op.widgets, {
    ...op.options,
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    ...(opts.logger ? { logger: opts.logger } : {}),
    ...(opts.shard ? { shard: opts.shard } : {}),
  }).owns(ConfigMap.api(client, namespace), opts.watcher ? { watcher: opts.watcher } : {});
  return { controller, reconcile: op.reconcile, records: op.records, recorder: op.recorder, widgets: op.widgets };
}

/**
 * Declares the operator for Widgets in `namespace` (or all namespaces) on
 * `manager`, with the writes it makes (for the manager's RBAC check and
 * `rbac()`): the manager runs it from its shared caches.
 */
export function widgetOperatorOn(manager: Manager, client: Client, namespace: string | AllNamespaces, opts: Omit<OperatorOptions, 'metrics' | 'shard'> = {}) {
  const op = widgetParts(client, namespace, opts);
  const configMaps = ConfigMap.api(client, namespace);
  const controller = manager
    .controller(op.widgets, {
      ...op.options,
      ...(opts.logger ? { logger: opts.logger } : {}),
      reconcile: op.reconcile,
      permissions: [
        ...permissions(configMaps, 'get', 'patch'),
        ...permissions(op.widgets, 'patch'),
        ...permissions(op.widgets, { subresource: 'status' }, 'patch'),
        ...permissions({ resource: EVENTS, namespace: namespace === allNamespaces ? undefined : (namespace as string) }, 'create', 'patch'),
      ],
    })
    .owns(configMaps, opts.watcher ? { watcher: opts.watcher } : {});
  return { controller, records: op.records, recorder: op.recorder, widgets: op.widgets };
}

/** The events.k8s.io resource the operator's `Recorder` writes. */
const EVENTS = { group: 'events.k8s.io', version: 'v1', kind: 'Event', plural: 'events', namespaced: true };

/** What both wirings share: the Api, the external records, the finalizer, the recorder, the controller's options and the reconcile. */
function widgetParts(client: Client, namespace: string | AllNamespaces, opts: OperatorOptions) {
  const widgets = Widget.api(client, namespace);
  const records = opts.records ?? new ExternalRecords();
  const finalizer = new Finalizer(widgets, FINALIZER);
  const recorder = new Recorder(client, { reportingController: OPERATOR, ...(opts.logger ? { logger: opts.logger } : {}) });
  const options = {
    name: 'widget-operator',
    // Our own status writes change resourceVersion, not generation: without this, each write would queue the Widget again.
    predicate: predicates.generation,
    ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
    ...(opts.watcher ? { watcher: opts.watcher } : {}),
    errorPolicy: (error: unknown, widget: Stored<Widget>, ctx: { backoffMs: number }) => {
      void recorder.publish(Widget.refFrom(widget), { type: 'Warning', reason: 'ReconcileFailed', action: 'Reconcile', note: (error as Error).message });
      return Action.requeue(ctx.backoffMs);
    },
  };

  /** Creates or updates the Widget's ConfigMap; true when it changed. */
  async function applyConfigMap(widget: Stored<Widget>, ctx: ReconcileContext): Promise<boolean> {
    const signal = ctx.signal;
    const ns = widget.metadata.namespace!;
    // Tracked: the next reconcile of this Widget waits until the cache holds what we write (read your own writes).
    const configMaps = ctx.track(ConfigMap.api(client, ns));
    const name = configMapName(widget);
    const data = desiredData(widget);
    const existing = await configMaps.getIfExists(name, { signal });
    if (existing && !isControlledBy(existing, widget)) {
      throw new Error(`ConfigMap ${ns}/${name} exists and is not controlled by this Widget: leaving it alone`);
    }
    if (existing && sameData(existing.data, data)) return false;
    const cm = {
      apiVersion: 'v1' as const,
      kind: 'ConfigMap' as const,
      metadata: { name, namespace: ns, labels: { 'app.kubernetes.io/managed-by': 'widget-operator' }, ownerReferences: [ownerReference(Widget, widget)] },
      data,
    };
    // Server-side apply: our field manager owns these fields; force, because the object is ours (checked above).
    await configMaps.patch(name, { type: 'apply', body: cm, force: true }, { fieldManager: 'widget-operator', signal });
    await recorder.publish(Widget.refFrom(widget), {
      type: 'Normal',
      reason: existing ? 'ConfigMapUpdated' : 'ConfigMapCreated',
      action: existing ? 'Update' : 'Create',
      note: `ConfigMap ${name}: ${JSON.stringify(data)}`,
    });
    return true;
  }

  /** Writes the Ready condition and observedGeneration, unless they already say so. */
  async function writeStatus(widget: Stored<Widget>, ctx: ReconcileContext): Promise<void> {
    const signal = ctx.signal;
    const generation = widget.metadata.generation;
    const conditions = setCondition(widget.status?.conditions, {
      type: 'Ready',
      status: 'True',
      reason: 'ConfigMapInLine',
      message: `ConfigMap ${configMapName(widget)} matches generation ${generation}`,
      observedGeneration: generation,
    });
    if (widget.status?.observedGeneration === generation && sameConditions(widget.status?.conditions, conditions)) return;
    await ctx
      .track(widgets)
      .within(widget.metadata.namespace!)
      .patchStatus(widget.metadata.name, { type: 'merge', body: { status: { observedGeneration: generation, phase: 'Ready', conditions } } }, { signal });
  }

  const reconcile = (widget: Stored<Widget>, ctx: ReconcileContext) => {
    opts.observe?.(widget);
    return finalizer.run(widget, {
      apply: async (w) => {
        await applyConfigMap(w, ctx);
        records.upsert(w, `${w.spec?.color}/${w.spec?.size ?? '?'}`);
        await writeStatus(w, ctx);
        return Action.awaitChange();
      },
      cleanup: async (w) => {
        await records.remove(w);
        await recorder.publish(Widget.refFrom(w), {
          type: 'Normal',
          reason: 'ExternalRecordRemoved',
          action: 'Delete',
          note: `removed the external record of ${w.metadata.name}`,
        });
        return Action.awaitChange();
      },
    });
  };

  return { widgets, records, recorder, options, reconcile };
}
