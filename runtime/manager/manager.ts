/**
 * The Manager: the operator process you deploy. It holds the controllers
 * and caches of one process and gives them one lifecycle:
 *
 * ```
 * new Manager(client, opts)
 *   .controller(api, { reconcile }).owns(…).watches(…)   ─┐ declared before start()
 *   .cache(api)                                          ─┘
 * start(): RBAC preflight ─▶ endpoints up ─▶ caches (one watch each) ─▶ synced ─▶ controllers
 * stop():  controllers drain (deadline) ─▶ Lease / ring claim released ─▶ caches stop ─▶ endpoints down
 * ```
 *
 * - **Shared caches.** Every controller's primary kind, `owns()` and
 *   `watches()` inputs, and the caches you read yourself (`cache()`), come
 *   from one cache per (resource, namespace, selectors, projection): two
 *   controllers that own ConfigMaps open one ConfigMap watch (`caches.ts`).
 * - **One lifecycle.** `start()` resolves once every cache has synced — a
 *   cache whose kind the server does not serve (yet) does not hold up the
 *   others: `/readyz` names it and its controllers wait — and then the
 *   controllers run. With `leaderElection` they reconcile only while this
 *   replica leads, with `shardRing` each replica reconciles its own range;
 *   either way a term's controllers drain before the Lease or claim goes.
 *   A fatal error in any part stops the whole manager with that error.
 * - **Endpoints** (`endpoints.ts`): `/healthz`, `/readyz`, `/metrics` on one
 *   small HTTP server, off unless `endpoints` is given.
 * - **RBAC** (`rbac.ts`): `start()` checks every permission the manager will
 *   use and fails naming each one missing, with the rules that grant them;
 *   `rbac()` prints those rules as a manifest.
 */
import type { Client } from '../client/client.ts';
import type { ListWatch } from '../client/api.ts';
import type { SharedStore } from '../cache/shared-store.ts';
import type { WatcherConfig } from '../cache/watcher.ts';
import { KubeError } from '../core/errors.ts';
import { consoleLogger, type Logger } from '../core/logger.ts';
import type { KubeObject, PartialObjectMeta, Stored } from '../core/types.ts';
import { Controller } from '../controller/controller.ts';
import type { ControllerMetrics } from '../controller/metrics.ts';
import type { ControllerHealth, ControllerOptions, ControllerStats, OwnsOptions, ReconcileTarget, WatchesOptions } from '../controller/options.ts';
import { type PromClientLike, prometheusMetrics } from '../controller/prometheus.ts';
import type { ErrorPolicy, Reconciler } from '../controller/reconcile.ts';
import { LeaderElection, type LeaderElectionOptions } from '../scale/leader-election.ts';
import type { ShardRange } from '../scale/shard-range.ts';
import { ShardRing, type ShardRingOptions, type ShardTerm } from '../scale/shard-ring.ts';
import { Caches, type CacheEntry, type CacheInfo, cacheState, type Projection } from './caches.ts';
import { type Endpoints, type EndpointsOptions, serveEndpoints } from './endpoints.ts';
import { cacheMetrics, type MetricsRegistry, type PromModule } from './metrics.ts';
import { type Permission, checkPermissions, permissionsFor, RbacError, rbacManifest, type RbacSubject } from './rbac.ts';

export type { MetricsRegistry, PromModule };

/** Where `kubereflect rbac MODULE` waits for the module's manager: `start()` hands itself over instead of starting. */
const HAND_OFF = Symbol.for('kubereflect.manager.hand-off');

/** Options of a `Manager`. */
export interface ManagerOptions {
  /** Names the manager in logs, metrics and the RBAC it prints (default `manager`). */
  name?: string;
  /**
   * Reconcile only while this replica leads this election (one active
   * replica of several; docs/scale-out.md). The caches run on every replica,
   * so a new leader starts warm; each term begins with every object queued,
   * and a term's reconciles have all returned before the Lease goes.
   */
  leaderElection?: LeaderElectionOptions;
  /**
   * Every replica reconciles, each the objects whose uid hashes into its
   * range of the ring. A term's controllers watch their primary kind for the
   * term's range; `owns()`/`watches()` inputs and `cache()`s are shared and
   * stay warm across terms. A term's reconciles have all returned before its
   * range goes to another replica. Not with `leaderElection`.
   */
  shardRing?: ShardRingOptions;
  /** Serve `/healthz`, `/readyz` and `/metrics` on this port (0: any free one; see `url`). Off by default. */
  endpoints?: EndpointsOptions;
  /**
   * Record the controllers' and caches' metrics in prom-client (pass the
   * module: `import * as prom from 'prom-client'`), in `registry` (default
   * its default registry); `/metrics` serves that registry.
   */
  metrics?: { prom: PromModule; registry?: MetricsRegistry };
  /**
   * What to do when a permission the manager needs is missing at start:
   * `fail` (default) rejects `start()` with an `RbacError` naming each one
   * and the rules that grant them; `warn` logs the same and starts (the
   * caches lacking list or watch then never sync, and `/readyz` says so);
   * `off` checks nothing.
   */
  rbac?: 'fail' | 'warn' | 'off';
  /** How long `stop()` (and a SIGTERM under `run()`) waits for reconciles in flight, ms (default 30,000); then their signal aborts. */
  shutdownDeadlineMs?: number;
  /** A cache's `/readyz` line turns stale after its watch has failed this long without success, ms (default 60,000). */
  staleAfterMs?: number;
  /** Where the manager, its caches and its controllers log (default `consoleLogger`). */
  logger?: Logger;
  /**
   * Told when a term begins — the controllers start: at start without an
   * election or ring, when this replica starts leading, when it gets a
   * range (`range`) — and when it has ended: every reconcile of the term has
   * returned, and the Lease or the range goes right after.
   */
  onTerm?: (event: { readonly phase: 'begin' | 'end'; readonly range?: ShardRange }) => void;
}

/** Options of one controller of a manager: a `Controller`'s, with its reconcile and the writes it makes. */
export interface ManagedControllerOptions<K extends KubeObject, S extends KubeObject = K>
  extends Omit<ControllerOptions<K, S>, 'store' | 'shard' | 'term' | 'leaderElection' | 'metrics' | 'logger' | 'errorPolicy'> {
  /** Your reconcile (see `Reconciler`). */
  reconcile: Reconciler<S>;
  /** What follows a failed reconcile (default: requeue after the rate limiter's delay). */
  errorPolicy?: ErrorPolicy<NoInfer<S>>;
  /**
   * The writes the reconcile makes — `permissions(api, 'create', 'patch')` —
   * beyond the list and watch of its inputs, which the manager knows: the
   * RBAC preflight checks them, and `rbac()` prints them.
   */
  permissions?: readonly Permission[];
  /** Where this controller logs (default the manager's logger). */
  logger?: Logger;
}

/** What `stop()` reports, and `run()` resolves with. */
export interface ManagerReport {
  /** Reconciles in flight when the stop began that finished before the deadline. */
  readonly finished: number;
  /** Reconciles still running at the deadline: their signal was aborted. */
  readonly abandoned: number;
  /**
   * What the process should exit with: 0 when it stopped cleanly, 1 when a
   * part failed (`error`), 2 when the deadline abandoned reconciles.
   */
  readonly exitCode: 0 | 1 | 2;
  /** The failure that stopped the manager, if one did. */
  readonly error?: KubeError | undefined;
}

/** This replica's part, as `/readyz` and `status()` say it. */
export type ManagerRole =
  | { readonly kind: 'single' }
  | { readonly kind: 'leader' | 'standby'; readonly identity: string; readonly leader: string | undefined; readonly lease: string }
  | { readonly kind: 'shard'; readonly identity: string; readonly range: string | undefined };

/** The manager's state, as the endpoints report it. */
export interface ManagerStatus {
  /** `new`, `starting` (caches syncing), `running`, `stopping`, `stopped`, or `failed`. */
  readonly state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';
  /** True when every cache has synced and none is stale or failed: what `/readyz` answers 200 for. */
  readonly ready: boolean;
  /** This replica's part: alone, leader or standby, or its shard range. */
  readonly role: ManagerRole;
  /** Every cache. */
  readonly caches: readonly CacheInfo[];
  /** The failure that stopped the manager, if one did. */
  readonly error: KubeError | undefined;
}

/**
 * A manager failed to start or stopped because a part failed: a cache's
 * watch or a controller's source ended for good, the endpoints could not
 * listen, an option contradicts another. (Missing permissions are an
 * `RbacError`.)
 */
export class ManagerError extends KubeError {
  override name = 'ManagerError';
  override readonly code = 'ERR_KUBE_MANAGER';
}

/**
 * Permissions for `ManagedControllerOptions.permissions`: `verbs` on
 * `api`'s resource (or its `subresource`), in its namespace (all
 * namespaces, or cluster-wide, when it has none).
 *
 * @example
 * permissions(ConfigMap.api(client, allNamespaces), 'create', 'patch');
 * permissions(widgets, { subresource: 'status' }, 'patch');
 */
export function permissions(api: Pick<ListWatch<unknown>, 'resource' | 'namespace'>, ...verbs: string[]): Permission[];
export function permissions(api: Pick<ListWatch<unknown>, 'resource' | 'namespace'>, opts: { subresource: string }, ...verbs: string[]): Permission[];
export function permissions(api: Pick<ListWatch<unknown>, 'resource' | 'namespace'>, ...rest: (string | { subresource: string })[]): Permission[] {
  const subresource = typeof rest[0] === 'object' ? (rest.shift() as { subresource: string }).subresource : undefined;
  return permissionsFor(api.resource, rest as string[], { namespace: api.resource.namespaced ? api.namespace : undefined, subresource });
}

/** One declared input of a managed controller. */
interface InputDecl {
  role: 'owns' | 'watches';
  api: ListWatch<KubeObject> & { metadata?(): ListWatch<PartialObjectMeta<KubeObject>> };
  metadataOnly: boolean;
  config: WatcherConfig | undefined;
  opts: OwnsOptions<KubeObject> | WatchesOptions<KubeObject>;
  mapper?: (obj: Stored<KubeObject>) => Iterable<ReconcileTarget>;
  entry?: CacheEntry;
}

/**
 * A controller of a manager: declare its inputs with `owns()` and
 * `watches()` before the manager starts. The manager makes the `Controller`
 * itself — one per term of leadership or of a ring's range — from the
 * shared caches; `stats()`, `health()`, `reconcile()` and `reconcileAll()`
 * reach the current one.
 */
export class ManagedController<K extends KubeObject, S extends KubeObject = K> {
  /** The controller's name (logs, metrics): `opts.name`, or `<kind>-controller`. */
  readonly name: string;
  /** @internal */
  readonly inputs: InputDecl[] = [];
  /** @internal the primary kind's cache (none in a ring: each term watches its range) */
  primary: CacheEntry | undefined;
  /** The controller of the current term, if one runs. */
  private current: Controller<K, S> | undefined;
  private readonly counted = { reconciles: 0, failures: 0 };

  /** @internal use `Manager.controller()` */
  constructor(
    readonly api: ListWatch<K>,
    readonly opts: ManagedControllerOptions<K, S>,
    private readonly started: () => boolean,
  ) {
    this.name = opts.name ?? `${api.resource.kind.toLowerCase()}-controller`;
  }

  /** As `Controller.owns()`: reconcile the owner of every child of `api`'s kind that changes (a metadata-only cache by default, shared). */
  owns<C extends KubeObject>(api: ListWatch<C> & { metadata?(): ListWatch<PartialObjectMeta<C>> }, opts: Omit<OwnsOptions<C>, 'store'> = {}): this {
    this.mustBeNew('owns');
    const metadataOnly = opts.metadataOnly ?? api.metadata !== undefined;
    this.inputs.push({ role: 'owns', api: api as unknown as InputDecl['api'], metadataOnly, config: opts.watcher, opts: opts as OwnsOptions<KubeObject> });
    return this;
  }

  /** As `Controller.watches()`: reconcile what `mapper` names whenever an object of `api`'s kind changes (a shared cache of whole objects). */
  watches<C extends KubeObject>(api: ListWatch<C>, mapper: (obj: Stored<C>) => Iterable<ReconcileTarget>, opts: Omit<WatchesOptions<C>, 'store'> = {}): this {
    this.mustBeNew('watches');
    this.inputs.push({
      role: 'watches',
      api: api as unknown as InputDecl['api'],
      metadataOnly: false,
      config: opts.watcher,
      opts: opts as WatchesOptions<KubeObject>,
      mapper: mapper as InputDecl['mapper'],
    });
    return this;
  }

  /** Queues `target` for a reconcile in the current term (nothing while this replica does not reconcile). */
  reconcile(target: ReconcileTarget): void {
    this.current?.reconcile(target);
  }

  /** Queues every object of the primary store in the current term. */
  reconcileAll(): void {
    this.current?.reconcileAll();
  }

  /** Running counts of the current term's controller, with the reconciles and failures of earlier terms added. */
  stats(): ControllerStats {
    const now = this.current?.stats();
    return {
      reconciles: this.counted.reconciles + (now?.reconciles ?? 0),
      failures: this.counted.failures + (now?.failures ?? 0),
      queueDepth: now?.queueDepth ?? 0,
      inFlight: now?.inFlight ?? 0,
      lastError: now?.lastError,
    };
  }

  /** The current term's controller's health; undefined while none runs (a standby, or before start). */
  health(): ControllerHealth | undefined {
    return this.current?.health();
  }

  /** @internal Makes the controller of one term from the manager's caches. */
  make(extra: { term?: AbortSignal; shard?: ShardTerm; metrics: ControllerMetrics | undefined; logger: Logger }): Controller<K, S> {
    const { reconcile: _r, permissions: _p, errorPolicy: _e, logger, ...opts } = this.opts;
    const ctl = new Controller<K, S>(this.api, {
      ...opts,
      name: this.name,
      logger: logger ?? extra.logger,
      ...(extra.metrics ? { metrics: extra.metrics } : {}),
      ...(extra.term ? { term: extra.term } : {}),
      ...(extra.shard ? { shard: extra.shard } : {}),
      ...(this.primary ? { store: this.primary.reader as unknown as SharedStore<S> } : {}),
    });
    for (const input of this.inputs) {
      const store = input.entry!.reader;
      if (input.role === 'owns') ctl.owns(input.api, { ...(input.opts as OwnsOptions<KubeObject>), store });
      else ctl.watches(input.api, input.mapper!, { ...(input.opts as WatchesOptions<KubeObject>), store });
    }
    return ctl;
  }

  /** @internal Runs one term's controller until it stops; counts what it did. */
  async runTerm(ctl: Controller<K, S>): Promise<void> {
    this.current = ctl;
    try {
      await ctl.run(this.opts.reconcile, this.opts.errorPolicy ? { errorPolicy: this.opts.errorPolicy } : {});
    } finally {
      const s = ctl.stats();
      this.counted.reconciles += s.reconciles;
      this.counted.failures += s.failures;
      if (this.current === ctl) this.current = undefined;
    }
  }

  /** @internal The running controller, if any. */
  get running(): Controller<K, S> | undefined {
    return this.current;
  }

  private mustBeNew(what: string): void {
    if (this.started()) throw new ManagerError(`kubereflect: ${this.name}: ${what}() is only possible before the manager starts`);
  }
}

/**
 * One operator process: controllers and caches with shared watches, one
 * start and one stop, health and readiness endpoints, controller-runtime's
 * metrics, RBAC checked at start.
 *
 * @example
 * const manager = new Manager(client, { name: 'widget-operator', endpoints: { port: 8080 }, metrics: { prom } });
 * manager
 *   .controller(Widget.api(client, allNamespaces), { reconcile, predicate: predicates.generation,
 *     permissions: permissions(ConfigMap.api(client, allNamespaces), 'patch') })
 *   .owns(ConfigMap.api(client, allNamespaces));
 * await manager.run(); // until SIGTERM or SIGINT; drains, then exits with the report's code
 */
export class Manager {
  /** The manager's name (logs, metrics, RBAC objects). */
  readonly name: string;
  /** The leader election, with `leaderElection`. */
  readonly election: LeaderElection | undefined;
  /** The ring membership, with `shardRing`. */
  readonly ring: ShardRing | undefined;
  private readonly logger: Logger;
  private readonly caches: Caches;
  private readonly controllers: ManagedController<KubeObject, KubeObject>[] = [];
  private state: ManagerStatus['state'] = 'new';
  private failure: KubeError | undefined;
  private readonly stopCaches = new AbortController();
  private endpoints: Endpoints | undefined;
  private terms: Promise<void> | undefined;
  private stopping: Promise<ManagerReport> | undefined;
  private readonly metricsFor: (controller: string) => ControllerMetrics | undefined;
  private finish!: { resolve: (r: ManagerReport) => void; reject: (e: KubeError) => void };
  /** Settles once the manager has stopped: resolves with the report, or rejects with the failure that stopped it. */
  readonly done: Promise<ManagerReport>;

  /** A manager of the controllers and caches you declare on it, through `client`. Nothing happens until `start()` (or `run()`). */
  constructor(
    private readonly client: Client,
    private readonly opts: ManagerOptions = {},
  ) {
    this.name = opts.name ?? 'manager';
    this.logger = opts.logger ?? consoleLogger;
    if (opts.leaderElection && opts.shardRing) throw new ManagerError(`kubereflect: manager ${this.name}: leaderElection and shardRing do not go together`);
    this.election = opts.leaderElection ? new LeaderElection(client, { logger: this.logger, ...opts.leaderElection }) : undefined;
    this.ring = opts.shardRing ? new ShardRing(client, { logger: this.logger, ...opts.shardRing }) : undefined;
    this.caches = new Caches(this.logger, opts.staleAfterMs, (entry, error) =>
      this.fail(new ManagerError(`kubereflect: manager ${this.name}: the cache of ${entry.name} failed for good: ${error.message}`, { cause: error })),
    );
    const m = opts.metrics;
    // One adapter per controller for the manager's life: a new term's controller attaches its queue to the same
    // adapter, so its counters go on from where the last term's left them.
    const adapters = new Map<string, ControllerMetrics>();
    this.metricsFor = m
      ? (controller) => {
          let adapter = adapters.get(controller);
          if (!adapter)
            adapters.set(
              controller,
              (adapter = prometheusMetrics<MetricsRegistry>(m.prom as unknown as PromClientLike<MetricsRegistry>, {
                controller,
                ...(m.registry ? { registry: m.registry } : {}),
              })),
            );
          return adapter;
        }
      : () => undefined;
    if (m) cacheMetrics(m.prom, m.registry, () => this.status());
    this.done = new Promise<ManagerReport>((resolve, reject) => (this.finish = { resolve, reject }));
    this.done.catch(() => {}); // a failure reaches run() and start(); an unawaited `done` must not crash the process
  }

  /**
   * Declares a controller of the objects `api` lists and watches: `reconcile`
   * is called as with `Controller.run`, from the manager's shared caches.
   * Chain `owns()` and `watches()`. Only before `start()`.
   *
   * @example
   * manager.controller(Widget.api(client, allNamespaces), { reconcile, predicate: predicates.generation }).owns(ConfigMap.api(client, allNamespaces));
   */
  controller<K extends KubeObject, S extends KubeObject = K>(api: ListWatch<K>, opts: ManagedControllerOptions<K, S>): ManagedController<K, S> {
    this.mustBeNew('controller');
    const ctl = new ManagedController<K, S>(api, opts, () => this.state !== 'new');
    if (this.controllers.some((c) => c.name === ctl.name))
      throw new ManagerError(`kubereflect: manager ${this.name}: two controllers are named ${ctl.name}: give one a name`);
    this.controllers.push(ctl as unknown as ManagedController<KubeObject, KubeObject>);
    return ctl;
  }

  /**
   * A cache of `api`'s objects for your own reads, shared with the
   * controllers that watch the same objects the same way (whole, or through
   * the same `transform` function). It runs from `start()` to `stop()`.
   * Only before `start()`.
   *
   * @example
   * const nodes = manager.cache(Node.api(client));
   * await manager.start();
   * nodes.get('worker-1');
   */
  cache<K extends KubeObject>(api: ListWatch<K>, opts?: { watcher?: WatcherConfig }): SharedStore<K>;
  cache<K extends KubeObject, R extends KubeObject>(api: ListWatch<K>, opts: { transform: (obj: K) => R; watcher?: WatcherConfig }): SharedStore<R>;
  cache(api: ListWatch<KubeObject>, opts: { transform?: (obj: KubeObject) => KubeObject; watcher?: WatcherConfig } = {}): SharedStore<KubeObject> {
    this.mustBeNew('cache');
    return this.caches.get(api, opts.transform ?? 'whole', opts.watcher, 'cache()').reader;
  }

  /**
   * Every permission the manager needs: list and watch for each cache (and
   * each ring term's primary watch), the writes the controllers declare, and
   * the Lease verbs of its election or ring.
   */
  permissions(): Permission[] {
    this.plan();
    const needs: Permission[] = [];
    const watch = (api: ListWatch<unknown>) => needs.push(...permissions(api, 'list', 'watch'));
    for (const entry of this.caches.all) watch(entry.api);
    for (const c of this.controllers) {
      if (this.ring) watch(c.api);
      needs.push(...(c.opts.permissions ?? []));
    }
    const lease = (namespace: string, ...verbs: string[]) =>
      needs.push(...verbs.map((verb) => ({ verb, group: 'coordination.k8s.io', resource: 'leases', namespace })));
    if (this.opts.leaderElection) lease(this.opts.leaderElection.namespace, 'get', 'create', 'update');
    if (this.opts.shardRing) lease(this.opts.shardRing.namespace, 'get', 'list', 'create', 'update', 'delete');
    return needs;
  }

  /**
   * The minimal RBAC for this manager as YAML: a ClusterRole for what is
   * cluster-wide or in all namespaces, a Role per namespace for the rest,
   * and their bindings to `subject` (default the ServiceAccount named after
   * the manager in `default`).
   *
   * @example
   * console.log(manager.rbac({ subject: { kind: 'ServiceAccount', name: 'widget-operator', namespace: 'ops' } }));
   */
  rbac(opts: { subject?: RbacSubject } = {}): string {
    return rbacManifest(this.permissions(), { name: this.name, ...(opts.subject ? { subject: opts.subject } : {}) });
  }

  /**
   * Starts: checks RBAC (see `rbac` option), opens the endpoints, starts
   * every cache and waits until each has synced — or its kind is not served,
   * which does not hold up the others — then runs the controllers (with
   * `leaderElection`, only in terms of leadership; with `shardRing`, in terms
   * of a range). Resolves once they run (a standby: once it campaigns);
   * rejects with what stopped it — an `RbacError`, a `ManagerError` —
   * having stopped whatever it had started. Call it once. (Under
   * `kubereflect rbac MODULE` it hands the manager to that command, which
   * prints `rbac()`, instead of starting; it then never resolves.)
   */
  async start(): Promise<void> {
    this.mustBeNew('start');
    const handOff = (globalThis as Record<symbol, unknown>)[HAND_OFF];
    if (typeof handOff === 'function') {
      // Under `kubereflect rbac`: hand this manager to the command, which prints its RBAC and ends the process; start nothing.
      (handOff as (m: Manager) => void)(this);
      return new Promise<never>(() => {});
    }
    this.state = 'starting';
    try {
      this.plan();
      if ((this.opts.rbac ?? 'fail') !== 'off') await this.preflight();
      if (this.opts.endpoints) {
        this.endpoints = await serveEndpoints(this.opts.endpoints, this, this.opts.metrics?.registry ?? this.opts.metrics?.prom.register);
        this.logger.info(`manager ${this.name}: serving /healthz, /readyz${this.opts.metrics ? ', /metrics' : ''} on ${this.endpoints.url}`, {
          manager: this.name,
          url: this.endpoints.url,
        });
      }
      this.caches.start(this.stopCaches.signal);
      await this.settled();
      if (this.failure) throw this.failure;
      this.logger.info(`manager ${this.name}: ${this.caches.all.length} caches started; running ${this.controllers.length} controllers`, {
        manager: this.name,
      });
      this.state = 'running';
      this.terms = this.runControllers();
    } catch (error) {
      const failure = error instanceof KubeError ? error : new ManagerError(`kubereflect: manager ${this.name}: ${(error as Error).message}`, { cause: error });
      this.fail(failure);
      await this.stopping;
      throw failure;
    }
  }

  /**
   * Runs the manager as the process's main loop: `start()`, then until
   * SIGTERM or SIGINT (or `signal`), then `stop()`. Sets `process.exitCode`
   * to the report's (`signals: false` leaves signals and the exit code
   * alone); a second signal exits at once. Resolves with the report;
   * rejects with the failure that stopped the manager.
   *
   * @example
   * await manager.run();
   */
  async run(opts: { signal?: AbortSignal; signals?: boolean } = {}): Promise<ManagerReport> {
    const handle = opts.signals ?? true;
    let signalled = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      if (signalled++ > 0) {
        this.logger.warn(`manager ${this.name}: ${sig} again: exiting now`, { manager: this.name });
        process.exit(130);
      }
      this.logger.info(`manager ${this.name}: ${sig}: stopping (reconciles in flight get ${this.opts.shutdownDeadlineMs ?? 30_000} ms)`, {
        manager: this.name,
      });
      void this.stop();
    };
    if (handle) for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, onSignal);
    opts.signal?.addEventListener('abort', () => void this.stop(), { once: true });
    try {
      if (opts.signal?.aborted) void this.stop();
      else await this.start();
      const report = await this.done;
      if (handle) process.exitCode = report.exitCode;
      return report;
    } catch (error) {
      if (handle) process.exitCode = 1;
      throw error;
    } finally {
      if (handle) for (const sig of ['SIGTERM', 'SIGINT'] as const) process.off(sig, onSignal);
    }
  }

  /**
   * Stops: no reconcile starts any more; those in flight get up to
   * `deadlineMs` (default the `shutdownDeadlineMs` option) before their
   * signal aborts; then the Lease or the ring's claim is released, the
   * caches stop and the endpoints close. Resolves with the report (as
   * `done`, but never rejecting). Idempotent.
   */
  stop(opts: { deadlineMs?: number } = {}): Promise<ManagerReport> {
    if (this.stopping) return this.stopping;
    const deadlineMs = opts.deadlineMs ?? this.opts.shutdownDeadlineMs ?? 30_000;
    const wasNew = this.state === 'new';
    if (this.state !== 'failed') this.state = 'stopping';
    this.stopping = (async () => {
      let finished = 0;
      let abandoned = 0;
      const reports = await Promise.all(this.controllers.map((c) => c.running?.shutdown({ deadlineMs })));
      for (const r of reports) {
        finished += r?.finished ?? 0;
        abandoned += r?.abandoned ?? 0;
      }
      // The election's or ring's work is the terms' controllers: it returns once they have, then the Lease or claim goes.
      await Promise.all([this.election?.stop(), this.ring?.stop()]);
      await this.terms;
      this.stopCaches.abort();
      await this.caches.ended();
      await this.endpoints?.close();
      if (this.state !== 'failed') this.state = 'stopped';
      const error = this.failure;
      const report: ManagerReport = { finished, abandoned, exitCode: error ? 1 : abandoned > 0 ? 2 : 0, error };
      if (!wasNew) this.logger.info(`manager ${this.name}: stopped (${finished} reconciles finished, ${abandoned} abandoned)`, { manager: this.name });
      if (error) this.finish.reject(error);
      else this.finish.resolve(report);
      return report;
    })();
    return this.stopping;
  }

  /** The address of the endpoints (`http://127.0.0.1:8080`), once started with `endpoints`. */
  get url(): string | undefined {
    return this.endpoints?.url;
  }

  /** The state, readiness, role and caches, as `/readyz` reports them. */
  status(): ManagerStatus {
    const caches = this.caches.all.map(
      (e): CacheInfo => ({ name: e.name, users: [...e.users], health: e.reader.health(), size: e.reader.size, failed: e.failed }),
    );
    const ready = (this.state === 'running' || this.state === 'starting') && caches.every((c) => cacheState(c) === 'synced') && !this.failure;
    return { state: this.state, ready, role: this.role(), caches, error: this.failure };
  }

  /** Every cache the manager runs and who uses it. */
  cacheInfo(): readonly CacheInfo[] {
    return this.status().caches;
  }

  private role(): ManagerRole {
    if (this.election)
      return { kind: this.election.isLeader ? 'leader' : 'standby', identity: this.election.identity, leader: this.election.leader, lease: this.election.name };
    if (this.ring) return { kind: 'shard', identity: this.ring.identity, range: this.ring.range?.toString() };
    return { kind: 'single' };
  }

  /**
   * Resolves every controller's inputs to caches, once: whole-object needs
   * first (so a metadata need can share a whole cache of the same scope,
   * whichever was declared first), then the metadata ones.
   */
  private plan(): void {
    if (this.planned) return;
    this.planned = true;
    for (const c of this.controllers) {
      if (!this.ring) c.primary = this.caches.get(c.api, (c.opts.transform as Projection | undefined) ?? 'whole', c.opts.watcher, `${c.name} (primary)`);
      for (const i of c.inputs) if (!i.metadataOnly) i.entry = this.caches.get(i.api, 'whole', i.config, `${c.name} (${i.role})`);
    }
    for (const c of this.controllers)
      for (const i of c.inputs)
        if (i.metadataOnly) i.entry = this.caches.get(i.api.metadata ? i.api.metadata() : i.api, 'metadata', i.config, `${c.name} (${i.role})`);
  }
  private planned = false;

  /** Checks every permission; fails or warns, by the `rbac` option, when some are missing. */
  private async preflight(): Promise<void> {
    const missing = await checkPermissions(this.client, this.permissions(), { signal: this.stopCaches.signal });
    if (missing.length === 0) return;
    const error = new RbacError(missing, { name: this.name });
    if ((this.opts.rbac ?? 'fail') === 'fail') throw error;
    this.logger.warn(error.message, { manager: this.name, missing: missing.length });
  }

  /** Resolves once every cache has synced, failed, or found its kind not served. */
  private async settled(): Promise<void> {
    const pending = () => this.caches.all.filter((e) => !e.failed && !e.reader.isReady() && !e.reader.health().unserved);
    let waiting = pending();
    let said = 0;
    while (waiting.length > 0 && !this.failure && !this.stopCaches.signal.aborted) {
      await new Promise((r) => setTimeout(r, 50));
      waiting = pending();
      if (++said % 200 === 0)
        this.logger.info(`manager ${this.name}: waiting for ${waiting.map((e) => e.name).join(', ')} to sync`, { manager: this.name, waiting: waiting.length });
    }
    for (const e of this.caches.all)
      if (!e.reader.isReady() && e.reader.health().unserved)
        this.logger.warn(`manager ${this.name}: ${e.name} is not served yet: its controllers wait for it; the others start`, {
          manager: this.name,
          cache: e.name,
        });
  }

  /** Runs the controllers for the manager's life: once, or per term of leadership or of a range. */
  private runControllers(): Promise<void> {
    const logger = this.logger;
    const term = async (extra: { term?: AbortSignal; shard?: ShardTerm }) => {
      if (this.state !== 'running') return; // a term that begins while the manager stops does no work
      const made = this.controllers.map((c) => ({ c, ctl: c.make({ ...extra, metrics: this.metricsFor(c.name), logger }) }));
      const range = extra.shard ? { range: extra.shard.range } : {};
      this.opts.onTerm?.({ phase: 'begin', ...range });
      await Promise.all(
        made.map(({ c, ctl }) =>
          c.runTerm(ctl).catch((error: unknown) => {
            this.fail(error instanceof KubeError ? error : new ManagerError(`kubereflect: ${c.name}: ${(error as Error).message}`, { cause: error }));
          }),
        ),
      );
      this.opts.onTerm?.({ phase: 'end', ...range });
    };
    const election = this.election;
    if (election) {
      // leader_election_master_status{name=<the Lease>}: 1 during a term. The gauge is labelled by the Lease only, so the first controller's adapter sets it.
      const first = this.controllers[0];
      const gauge = first ? this.metricsFor(first.name) : undefined;
      gauge?.leader?.(false, election.name);
      return election.run(async (leading) => {
        gauge?.leader?.(true, election.name);
        try {
          await term({ term: leading });
        } finally {
          gauge?.leader?.(false, election.name);
        }
      });
    }
    if (this.ring) return this.ring.run((shard) => term({ shard }));
    return term({});
  }

  /** A part failed: remember the first failure, say it, and stop everything. */
  private fail(error: KubeError): void {
    if (this.failure || this.state === 'stopped') return;
    this.failure = error;
    this.state = 'failed';
    this.logger.error(`manager ${this.name}: ${error.message}; stopping`, { manager: this.name, error: error.message });
    void this.stop();
  }

  private mustBeNew(what: string): void {
    if (this.state !== 'new') throw new ManagerError(`kubereflect: manager ${this.name}: ${what}() is only possible before start() (and start() only once)`);
  }
}
