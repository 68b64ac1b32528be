/**
 * Leader election on a Kubernetes Lease (`coordination.k8s.io/v1`): of the
 * replicas that campaign for one Lease, one leads at a time.
 *
 * The protocol is client-go's: a candidate creates the Lease or takes it over
 * once its holder has not renewed it for the duration the Lease itself says
 * (`spec.leaseDurationSeconds`, which its holder wrote; this replica's own
 * `leaseDuration` only when the record has none); the holder renews
 * it every `retryPeriod`; every write carries the `resourceVersion` it read,
 * so of two racing writers the server accepts one (409 Conflict for the other).
 *
 * Why two leaders never act at once — the timing argument. Each replica
 * measures time only as durations on its own monotonic clock; no two clocks
 * are compared.
 * - The holder counts from the moment it *sent* its last successful renewal,
 *   S. At S + renewDeadline, unless a later renewal has succeeded, it stops
 *   leading: the `leading` signal aborts, `onStoppedLeading` runs, requests
 *   in flight are aborted. This is a timer, not a check at the next tick: a
 *   hung request cannot delay it.
 * - Another candidate can take the Lease only after it has seen the same
 *   record, unchanged, for the leaseDuration that record says (the holder's
 *   own) from the moment it first saw it, T. The record it saw was written at
 *   or after S (the renewal was sent at S), and it saw it after it was
 *   written: T ≥ S. So it takes over no earlier than S + leaseDuration,
 *   whatever durations the candidate itself is configured with.
 * - With leaseDuration > renewDeadline (15 s and 10 s by default), the holder
 *   has stopped at least leaseDuration − renewDeadline (5 s) before anyone
 *   else can lead. The margin absorbs clock-rate differences between the
 *   replicas and the time user code takes to stop on the signal; it does not
 *   depend on clock offsets.
 * - A holder that stops gracefully releases the Lease (holder cleared), and
 *   the next candidate takes it at its next try (within `retryPeriod`).
 *
 * Acting "only while leading" is the user's part: check `leading.aborted`
 * (or listen to it) before each action. A `Controller` with the
 * `leaderElection` option does this for its reconciles.
 */
import { Api } from '../client/api.ts';
import { sleep } from '../core/backoff.ts';
import type { Client } from '../client/client.ts';
import { systemClock, unrefTimer, type Clock } from '../core/clock.ts';
import { RequestAbortedError, ApiError, RequestTimeoutError } from '../core/errors.ts';
import { jitter } from '../core/jitter.ts';
import { silentLogger, type Logger } from '../core/logger.ts';
import { defaultIdentity, leaseHoldMs, leaseObject, leaseSeconds, leaseTiming, LEASES, microTimeNow, writeLease, type Lease } from './lease.ts';

/** Options of `LeaderElection`. Durations are in milliseconds; the defaults are client-go's. */
export interface LeaderElectionOptions {
  /** The Lease's namespace and name: one Lease per group of replicas that elect one leader. */
  namespace: string;
  name: string;
  /** This replica's name in the Lease; unique per replica (default: the host name, the process id and a random suffix, see `defaultIdentity`). */
  identity?: string;
  /** How long a Lease that is not renewed stays with its holder, for the other candidates. Default 15,000. */
  leaseDuration?: number;
  /** How long the holder keeps leading without a successful renewal. Must be less than `leaseDuration`. Default 10,000. */
  renewDeadline?: number;
  /** How often to try to acquire, and to renew. Must be less than `renewDeadline`. Default 2,000. */
  retryPeriod?: number;
  /** Clear the holder when stopped while leading, so the next candidate takes over at once. Default true. */
  releaseOnStop?: boolean;
  /**
   * How long `stop()` tries to release the Lease before it gives up and
   * leaves the Lease to expire instead (the server unreachable, say), so
   * that a shutdown cannot hang on it. Default 5,000.
   */
  releaseTimeout?: number;
  /** Called when this replica starts leading; `leading` aborts when it stops. */
  onStartedLeading?: (leading: AbortSignal) => void;
  /** Called when this replica stops leading (lost the Lease, or stopped). */
  onStoppedLeading?: () => void;
  /** Called when the observed holder changes (also to this replica; `undefined` when no one holds it). */
  onNewLeader?: (identity: string | undefined) => void;
  logger?: Logger;
  /**
   * Where the election reads the time and waits: its retry period, its renew
   * deadline, when it saw the Lease change; and the wall-clock times it
   * writes into the Lease. Default `systemClock`; unit tests pass a clock
   * they move by hand.
   */
  clock?: Clock;
}

/**
 * Campaigns for a Lease until stopped: leads while it holds it (see the
 * module comment for the guarantees).
 *
 * @example
 * const election = new LeaderElection(client, { namespace: 'shop', name: 'widget-operator' });
 * election.run();
 * for (;;) {
 *   const leading = await election.leading();   // resolves once this replica leads
 *   await doTheWork(leading);                   // stop when `leading` aborts
 * }
 */
export class LeaderElection {
  /** This replica's identity in the Lease. */
  readonly identity: string;
  private readonly api: Api<Lease>;
  private readonly leaseMs: number;
  private readonly renewMs: number;
  private readonly retryMs: number;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly stopper = new AbortController();
  private term: AbortController | undefined;
  private observed: { key: string; at: number; holder: string | undefined; holdMs: number } | undefined;
  private waiters: ((signal: AbortSignal) => void)[] = [];
  private running: Promise<void> | undefined;

  /** An election for the Lease `opts.namespace`/`opts.name` through `client`; call `run()` to campaign. @throws RangeError for inconsistent durations. */
  constructor(
    client: Client,
    private readonly opts: LeaderElectionOptions,
  ) {
    this.identity = opts.identity ?? defaultIdentity();
    ({ leaseMs: this.leaseMs, renewMs: this.renewMs, retryMs: this.retryMs } = leaseTiming(opts, 'leader election'));
    this.api = new Api<Lease>(client, LEASES, opts.namespace);
    this.log = opts.logger ?? silentLogger;
    this.clock = opts.clock ?? systemClock;
  }

  /** True while this replica leads. */
  get isLeader(): boolean {
    return this.term !== undefined && !this.term.signal.aborted;
  }

  /** The holder last seen in the Lease (this replica's identity while it leads). */
  get leader(): string | undefined {
    return this.observed?.holder;
  }

  /** Resolves with the `leading` signal once this replica leads (at once if it does). */
  leading(): Promise<AbortSignal> {
    if (this.isLeader) return Promise.resolve(this.term!.signal);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Starts campaigning (once); resolves when stopped. */
  run(): Promise<void> {
    this.running ??= this.campaign();
    return this.running;
  }

  /**
   * Stops leading and campaigning; releases the Lease if this replica holds
   * it, unless `releaseOnStop` is false or `opts.release` is false (then the
   * Lease expires `leaseDuration` after the last renewal: time for work that
   * outlived its signal to stop before another replica leads).
   */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    const wasLeader = this.isLeader;
    this.endTerm('stopped');
    this.stopper.abort();
    await this.running?.catch(() => {});
    if (wasLeader && (opts.release ?? this.opts.releaseOnStop) !== false) await this.release();
  }

  private async campaign(): Promise<void> {
    const signal = this.stopper.signal;
    while (!signal.aborted) {
      try {
        if (this.isLeader ? await this.renew() : await this.tryAcquire()) {
          // fall through to the wait: the next renewal is one retry period away
        }
      } catch (err) {
        if (signal.aborted) break;
        this.log.warn(`leader election ${this.opts.namespace}/${this.opts.name}: ${(err as Error).message}`);
      }
      // A candidate's retries are spread (up to a fifth more), so that candidates started together do not keep colliding; the holder renews on the beat.
      await sleep(this.isLeader ? this.retryMs : jitter(this.retryMs, { above: 0.2 }), signal, this.clock);
    }
  }

  /** One attempt to take the Lease. True when this replica now leads. */
  private async tryAcquire(): Promise<boolean> {
    const sent = this.clock.now();
    const lease = await this.api.getIfExists(this.opts.name, { signal: this.stopper.signal });
    const now = microTimeNow(this.clock);
    if (!lease) {
      const created = await this.write(undefined, {
        holderIdentity: this.identity,
        leaseDurationSeconds: leaseSeconds(this.leaseMs),
        acquireTime: now,
        renewTime: now,
        leaseTransitions: 0,
      });
      if (created) this.startTerm(sent);
      return this.isLeader;
    }
    this.observe(lease);
    const holder = lease.spec?.holderIdentity || undefined;
    // Expired only once seen unchanged for the duration the record says (its holder's promise), not this replica's own.
    if (holder !== undefined && holder !== this.identity && this.clock.now() - this.observed!.at < this.observed!.holdMs) return false;
    const transitions = (lease.spec?.leaseTransitions ?? 0) + (holder === this.identity ? 0 : 1);
    const written = await this.write(lease, {
      holderIdentity: this.identity,
      leaseDurationSeconds: leaseSeconds(this.leaseMs),
      acquireTime: holder === this.identity ? (lease.spec?.acquireTime ?? now) : now,
      renewTime: now,
      leaseTransitions: transitions,
    });
    if (written) this.startTerm(sent);
    return this.isLeader;
  }

  /** One renewal; the term's deadline timer ends leadership if renewals stop succeeding. */
  private async renew(): Promise<boolean> {
    const term = this.term!;
    const sent = this.clock.now();
    const signal = AbortSignal.any([term.signal, this.stopper.signal]);
    const lease = await this.api.getIfExists(this.opts.name, { signal });
    if (!lease || (lease.spec?.holderIdentity || undefined) !== this.identity) {
      if (lease) this.observe(lease);
      this.endTerm(`the Lease is held by ${lease?.spec?.holderIdentity || 'no one'} now`);
      return false;
    }
    const written = await this.write(lease, { ...lease.spec, renewTime: microTimeNow(this.clock) }, signal);
    if (written && this.term === term) this.armDeadline(sent);
    return written;
  }

  /** Writes the Lease's spec (creates it without `current`); false on a conflict (someone else wrote first). */
  private async write(current: Lease | undefined, spec: NonNullable<Lease['spec']>, signal: AbortSignal = this.stopper.signal): Promise<boolean> {
    try {
      const body = leaseObject({ ...(current?.metadata ?? {}), name: this.opts.name, namespace: this.opts.namespace }, spec);
      const written = await writeLease(this.api, current, body, signal);
      this.observe(written);
      return true;
    } catch (err) {
      if (err instanceof ApiError && (err.statusCode === 409 || (err.statusCode === 404 && current !== undefined))) return false;
      throw err;
    }
  }

  /** Remembers the record and when it was first seen (local monotonic time). */
  private observe(lease: Lease): void {
    const s = lease.spec ?? {};
    const key = JSON.stringify([s.holderIdentity, s.acquireTime, s.renewTime, s.leaseTransitions, s.leaseDurationSeconds]);
    if (this.observed?.key === key) return;
    const holder = s.holderIdentity || undefined;
    const changed = this.observed?.holder !== holder;
    this.observed = { key, at: this.clock.now(), holder, holdMs: leaseHoldMs(lease, this.leaseMs) };
    if (changed) this.opts.onNewLeader?.(holder);
  }

  private deadline: unknown;

  private startTerm(sent: number): void {
    const term = new AbortController();
    this.term = term;
    this.armDeadline(sent);
    this.log.info(`leader election ${this.opts.namespace}/${this.opts.name}: ${this.identity} leads`);
    this.opts.onStartedLeading?.(term.signal);
    for (const w of this.waiters.splice(0)) w(term.signal);
  }

  /** Leadership ends at `sent` + renewDeadline unless a later renewal succeeds first. */
  private armDeadline(sent: number): void {
    this.clock.clearTimer(this.deadline);
    const left = sent + this.renewMs - this.clock.now();
    this.deadline = this.clock.setTimer(() => this.endTerm(`no renewal succeeded within ${this.renewMs} ms`), Math.max(0, left));
    unrefTimer(this.deadline);
  }

  private endTerm(why: string): void {
    this.clock.clearTimer(this.deadline);
    const term = this.term;
    if (!term || term.signal.aborted) return;
    term.abort(new RequestAbortedError(`leadership of ${this.opts.namespace}/${this.opts.name} ended: ${why}`));
    this.log.info(`leader election ${this.opts.namespace}/${this.opts.name}: ${this.identity} stopped leading: ${why}`);
    this.opts.onStoppedLeading?.();
  }

  /** Clears the holder (if still this replica), so that the next candidate need not wait for the Lease to expire. */
  private async release(): Promise<void> {
    const ms = this.opts.releaseTimeout ?? 5000;
    const giveUp = new AbortController();
    const timer = this.clock.setTimer(() => giveUp.abort(new RequestTimeoutError(`releasing Lease ${this.opts.namespace}/${this.opts.name}`, ms)), ms);
    unrefTimer(timer);
    const signal = giveUp.signal;
    try {
      const lease = await this.api.getIfExists(this.opts.name, { signal });
      if (!lease || lease.spec?.holderIdentity !== this.identity) return;
      const now = microTimeNow(this.clock);
      await this.api.replace(
        this.opts.name,
        { ...lease, spec: { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, acquireTime: now, renewTime: now } },
        { signal },
      );
    } catch (err) {
      const why = signal.aborted ? (signal.reason as Error).message : (err as Error).message;
      this.log.warn(`leader election ${this.opts.namespace}/${this.opts.name}: release failed (the Lease expires instead): ${why}`);
    } finally {
      this.clock.clearTimer(timer);
    }
  }
}
