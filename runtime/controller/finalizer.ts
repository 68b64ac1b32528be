/**
 * Finalizers for a reconcile: clean up something outside the object (an
 * external record, a cloud resource) before the object is allowed to go.
 *
 * `Finalizer.run` adds the finalizer when it first sees an object without
 * it, then reconciles (`apply`); once the object has a `deletionTimestamp`
 * it runs `cleanup`, and removes the finalizer only after cleanup succeeded.
 *
 * The patches never overwrite what another writer did meanwhile. Adding
 * uses a JSON patch that first `test`s the `resourceVersion` the decision
 * was made on (a concurrent write turns it into a 422 conflict and a retry
 * from the newer object). Removing `test`s that the finalizer is still at
 * the index it was seen at and removes that one element, so unrelated
 * writes do not fail it and other finalizers are left alone — and first that
 * the object's uid is still the one seen: patches go by name, and a stale
 * copy of an object that was deleted and created again under the same name
 * must not take the new object's finalizer (found by the apiserver-restart
 * fault test: a removal whose answer was lost, retried after the name was
 * reused, left the new object without its finalizer and its cleanup).
 *
 * Cleanup runs once per object: the `Finalizer` remembers (for `rememberMs`,
 * default ten minutes) the uids it cleaned up, so a reconcile that still sees
 * the old version in the cache — the finalizer's removal not yet watched —
 * retries only the removal. Likewise a retry that still sees the version it
 * added the finalizer to goes on to apply instead of adding it again. Cleanup
 * must still tolerate a repeat across a restart of the process.
 */
import type { Api } from '../client/api.ts';
import { ApiError, KubeError } from '../core/errors.ts';
import type { KubeObject, Stored } from '../core/types.ts';
import { Action } from './reconcile.ts';

/** What `Finalizer.run` calls, with the object it was given (`O`: as the controller typed it, e.g. with its namespace). */
export interface FinalizerHandlers<K extends KubeObject, O extends Stored<K> = Stored<K>> {
  /** The object is live (and carries the finalizer): reconcile it. */
  apply(obj: O): Promise<Action> | Action;
  /** The object is being deleted: release what it holds outside the cluster. Throw to retry later. */
  cleanup(obj: O): Promise<Action> | Action;
}

/** Thrown when the finalizer could not be added or removed; the reconcile fails and is retried. */
export class FinalizerError extends KubeError {
  override name = 'FinalizerError';
  override readonly code = 'ERR_KUBE_FINALIZER';
}

/**
 * One finalizer of one kind, e.g. `demo.kubereflect.dev/external-record`.
 *
 * @example
 * const records = new Finalizer(Widget.api(client, allNamespaces), 'demo.kubereflect.dev/external-record');
 * await ctl.run((widget) => records.run(widget, {
 *   apply: (w) => reconcileWidget(w),
 *   cleanup: async (w) => { await registry.remove(w.metadata.uid); return Action.awaitChange(); },
 * }));
 */
export class Finalizer<K extends KubeObject> {
  private readonly cleaned = new Map<string, number>();
  /** uid → the resourceVersion we added the finalizer on: a copy still at that version is stale, not one without it. */
  private readonly added = new Map<string, { resourceVersion: string; at: number }>();
  private readonly rememberMs: number;
  private lastSweep = Date.now();

  /** A finalizer named `name` (a qualified name: `domain/purpose`), patched through `api`. */
  constructor(
    private readonly api: Pick<Api<K>, 'patch' | 'resource'>,
    readonly name: string,
    opts: { rememberMs?: number } = {},
  ) {
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(name)) {
      throw new KubeError(`kubereflect: finalizer ${JSON.stringify(name)} should be a qualified name such as example.com/cleanup`);
    }
    this.rememberMs = opts.rememberMs ?? 600_000;
  }

  /**
   * Adds the finalizer, applies, or cleans up and removes the finalizer,
   * depending on the object's state; returns what the handler returned (an
   * object already being deleted without this finalizer: `awaitChange`).
   */
  async run<O extends Stored<K>>(obj: O, handlers: FinalizerHandlers<K, O>): Promise<Action> {
    this.forgetOld();
    const meta = obj.metadata;
    const finalizers = meta.finalizers ?? [];
    const index = finalizers.indexOf(this.name);
    if (index >= 0) this.added.delete(meta.uid); // the cache has caught up with our add
    if (meta.deletionTimestamp !== undefined) {
      if (index < 0) return Action.awaitChange(); // not ours (any more): nothing to do
      let action = Action.awaitChange();
      if (!this.cleaned.has(meta.uid)) {
        action = await handlers.cleanup(obj);
        this.cleaned.set(meta.uid, Date.now());
      }
      await this.patch(
        obj,
        [
          // The uid first: a patch goes by name, and after a restart a stale copy may name an object deleted and created again.
          { op: 'test', path: '/metadata/uid', value: meta.uid },
          { op: 'test', path: `/metadata/finalizers/${index}`, value: this.name },
          { op: 'remove', path: `/metadata/finalizers/${index}` },
        ],
        'remove',
      );
      return action;
    }
    if (index < 0 && this.added.get(meta.uid)?.resourceVersion !== meta.resourceVersion) {
      const gone = await this.patch(
        obj,
        [
          { op: 'test', path: '/metadata/resourceVersion', value: meta.resourceVersion },
          finalizers.length === 0
            ? { op: 'add', path: '/metadata/finalizers', value: [this.name] }
            : { op: 'add', path: '/metadata/finalizers/-', value: this.name },
        ],
        'add',
      );
      if (gone) return Action.awaitChange(); // deleted before we could hold it: there is nothing to apply or clean up
      this.added.set(meta.uid, { resourceVersion: meta.resourceVersion, at: Date.now() });
    }
    // Go on in the same reconcile: a finalizer change does not change the generation, so a predicate would hide it.
    return handlers.apply(obj);
  }

  /** Applies the patch; true when the object is gone (404). */
  private async patch(
    obj: Stored<K>,
    operations: { op: 'test' | 'add' | 'remove'; path: string; value?: unknown }[],
    what: 'add' | 'remove',
  ): Promise<boolean> {
    const { name, namespace } = obj.metadata;
    try {
      await this.api.patch(name, { type: 'json', operations: operations as never }, { namespace });
      return false;
    } catch (err) {
      // Gone already: a removal is done, and an object deleted before we added the finalizer needs nothing from us.
      // Only a 404 that names the object says so: a kube-apiserver that has just started answers 404 for a
      // custom resource whose definition it does not serve yet, and that is an error to retry.
      if (err instanceof ApiError && err.statusCode === 404 && err.status.details?.name === name) return true;
      const conflict = err instanceof ApiError && (err.statusCode === 409 || err.statusCode === 422);
      throw new FinalizerError(
        `kubereflect: could not ${what} finalizer ${this.name} ${what === 'add' ? 'to' : 'from'} ${this.api.resource.kind} ${namespace ? `${namespace}/` : ''}${name}` +
          (conflict ? ': the object changed meanwhile (retrying from the newer version)' : `: ${(err as Error).message}`),
        { cause: err },
      );
    }
  }

  /** Forgets entries older than `rememberMs`; sweeps at most once a minute, so a reconcile costs O(1) here. */
  private forgetOld(): void {
    const now = Date.now();
    if (now - this.lastSweep < Math.min(60_000, this.rememberMs)) return;
    this.lastSweep = now;
    const cutoff = now - this.rememberMs;
    for (const [uid, at] of this.cleaned) if (at < cutoff) this.cleaned.delete(uid);
    for (const [uid, a] of this.added) if (a.at < cutoff) this.added.delete(uid);
  }
}
