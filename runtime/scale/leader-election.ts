/**
 * Leader election on a Kubernetes Lease (`coordination.k8s.io/v1`): of the
 * replicas that campaign for one Lease, one leads at a time, and does its
 * work — a function handed to `run` — only while it leads.
 *
 * The protocol is client-go's: a candidate creates the Lease or takes it over
 * once its holder has not renewed it for the duration the Lease itself says
 * (`spec.leaseDurationSeconds`, which its holder wrote; this replica's own
 * `leaseDuration` only when the record has none); the holder renews
 * it every `retryPeriod`; every write carries the `resourceVersion` it read,
 * so of two racing writers the server accepts one (409 Conflict for the other).
 *
 * The work and the Lease. Each term of leadership calls the work with the
 * term's signal, which aborts when the term ends. The election keeps the
 * Lease — and renews it — until the work has *returned*, not merely until its
 * signal aborted: a stop (`stop()`) releases the Lease only after the work
 * ended, and after a lost term the replica campaigns again only once the
 * work ended. So the Lease cannot go while the work runs, as long as the
 * replica can renew it.
 *
 * Why two leaders never act at once — the timing argument. Each replica
 * measures time only as durations on its own monotonic clock; no two clocks
 * are compared.
 * - The holder counts from the moment it *sent* its last successful renewal,
 *   S. At S + renewDeadline, unless a later renewal has succeeded, it stops
 *   leading: the term's signal aborts, `onStoppedLeading` runs, requests
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
 *   replicas and the time the work takes to stop on the signal; it does not
 *   depend on clock offsets.
 * - A holder that stops gracefully releases the Lease (holder cleared) once
 *   its work has returned, and the next candidate takes it at its next try
 *   (within `retryPeriod`).
 *
 * So, for work that does not stop when its signal aborts: while the holder
 * can renew, it keeps the Lease however long the work runs (a graceful stop
 * waits for it); once it cannot renew within renewDeadline, work that runs
 * on past the margin — leaseDuration (as the Lease says) − renewDeadline
 * after the last successful renewal was sent — can overlap the next leader's.
 * A `Controller` with the `leaderElection` option passes the signal to every
 * reconcile (`ctx.signal`) and waits for the reconciles before its work ends.
 */
import { Api } from '../client/api.ts';
import type { Client } from '../client/client.ts';
import { systemClock, unrefTimer, type Clock } from '../core/clock.ts';
import { RequestAbortedError, ApiError, RequestTimeoutError } from '../core/errors.ts';
import { jitter } from '../core/jitter.ts';
import { silentLogger, type Logger } from '../core/logger.ts';
import { defaultIdentity, leaseHoldMs, leaseObject, leaseSeconds, leaseTiming, LEASES, microTimeNow, Pause, writeLease, type Lease } from './lease.ts';

/** What a replica does while it leads: `leading` aborts when the term ends; settle once the work has stopped (the Lease is held until then). */
export type LeaderWork = (leading: AbortSignal) => Promise<void> | void;

/** Options of `LeaderElection`. Durations are in milliseconds; the defaults are client-go's. */
export interface LeaderElectionOptions {
  /** The Lease's namespace and name: one Lease per group of replicas that elect one leader. */
  namespace: string;
  name: string;
  /** This replica's name in the Lease; unique per replica (default: the host name, the process id and a random suffix, see `defaultIdentity`). */
  identity?: string;
  /**
   * How long a Lease that is not renewed stays with its holder: what this
   * replica writes into the Lease when it takes it (candidates judge a Lease
   * by the duration it says). Default 15,000.
   */
  leaseDuration?: number;
  /** How long the holder keeps leading without a successful renewal. Must be less than `leaseDuration`. Default 10,000. */
  renewDeadline?: number;
  /** How often to try to acquire, and to renew. Must be less than `renewDeadline`. Default 2,000. */
  retryPeriod?: number;
  /** Clear the holder when stopped while holding the Lease (once the work has returned), so the next candidate takes over at once. Default true. */
  releaseOnStop?: boolean;
  /**
   * How long `stop()` tries to release the Lease before it gives up and
   * leaves the Lease to expire instead (the server unreachable, say), so
   * that a shutdown cannot hang on it. Default 5,000.
   */
  releaseTimeout?: number;
  /** Called when this replica starts leading, just before the work is called. */
  onStartedLeading?: () => void;
  /** Called when this replica stops leading (lost the Lease, the renew deadline passed, or stopped), when the term's signal aborts. */
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
 * Campaigns for a Lease until stopped, and runs the work handed to `run`
 * during each term of leadership (see the module comment for the
 * guarantees).
 *
 * @example
 * const election = new LeaderElection(client, { namespace: 'shop', name: 'widget-operator' });
 * process.once('SIGTERM', () => void election.stop());   // ends the term; releases once the work has returned
 * await election.run(async (leading) => {
 *   await doTheWork(leading);                           // return once the work has stopped; `leading` aborts when the term ends
 * });
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
  /** Aborted when the campaign ends (at `stop()`, once the work has returned): ends the loop and its request in flight. */
  private readonly stopper = new AbortController();
  private stopping = false;
  /** Present while this replica holds the Lease as far as it knows; aborted when it lost it (renew deadline, another holder). */
  private hold: AbortController | undefined;
  private term: AbortController | undefined;
  /** The latest term's work until it settles. */
  private work: Promise<void> | undefined;
  private observed: { key: string; at: number; holder: string | undefined; holdMs: number } | undefined;
  private running: Promise<void> | undefined;
  private deadline: unknown;
  /** Ends the campaign loop's current pause early. */
  /** The wait between rounds, cut short by a stop or the end of the work. */
  private readonly pause: Pause;

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
    this.pause = new Pause(this.clock, this.stopper.signal);
  }

  /** The fields of this election's log lines. */
  private logFields(): { election: string; identity: string } {
    return { election: `${this.opts.namespace}/${this.opts.name}`, identity: this.identity };
  }
  /** True during a term of leadership: from the work's call until its signal aborts. */
  get isLeader(): boolean {
    return this.term !== undefined && !this.term.signal.aborted;
  }

  /** The holder last seen in the Lease (this replica's identity while it holds it). */
  get leader(): string | undefined {
    return this.observed?.holder;
  }

  /** The name of the Lease this election campaigns for (in its namespace, `opts.namespace`). */
  get name(): string {
    return this.opts.name;
  }

  /**
   * Campaigns until `stop()`, calling `work` at the start of each term of
   * leadership with the term's signal, and holding (renewing) the Lease
   * until that call has settled — past the end of the term if the work
   * takes that long. A new term begins only once the previous work has
   * settled. Resolves once stopped: the last work has settled and the Lease
   * has been released (or left to expire, see `releaseOnStop`,
   * `releaseTimeout`). Work that throws is logged; work that returns before
   * its term ends leaves the replica leading, idle, until the term ends.
   * Call it once.
   *
   * @throws Error when called a second time (a `Controller` with
   * `leaderElection` calls it itself).
   */
  run(work: LeaderWork): Promise<void> {
    if (this.running) throw new Error(`kubereflect: leader election ${this.opts.namespace}/${this.opts.name}: run() was called already`);
    this.running = this.stopping ? Promise.resolve() : this.campaign(work).then(() => this.releaseAtEnd());
    return this.running;
  }

  /**
   * Stops leading and campaigning: ends the term (its signal aborts), waits
   * until the work has returned — renewing the Lease meanwhile — then
   * releases the Lease (unless `releaseOnStop` is false) and resolves as
   * `run()` does. Work that never returns keeps it waiting: to bound a
   * shutdown, exit the process (a dead process's work has ended; its Lease
   * expires after the duration it says).
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.endTerm('stopped');
    this.pause.wake();
    await this.work;
    this.stopper.abort();
    this.pause.wake();
    await this.running?.catch(() => {});
  }

  private async campaign(work: LeaderWork): Promise<void> {
    const signal = this.stopper.signal;
    while (!signal.aborted) {
      try {
        if (this.hold) await this.renew();
        else if (!this.stopping && !this.work) await this.tryAcquire(work);
      } catch (err) {
        if (signal.aborted) break;
        this.log.warn(`leader election ${this.opts.namespace}/${this.opts.name}: ${(err as Error).message}`, this.logFields());
      }
      if (this.stopping && !this.work) break;
      // A candidate's retries are spread (up to a fifth more), so that candidates started together do not keep colliding; the holder renews on the beat.
      await this.pause.for(this.hold ? this.retryMs : jitter(this.retryMs, { above: 0.2 }));
    }
  }

  /** One attempt to take the Lease; starts a term when it did. */
  private async tryAcquire(work: LeaderWork): Promise<void> {
    const sent = this.clock.now();
    const lease = await this.api.getIfExists(this.opts.name, { signal: this.stopper.signal });
    const now = microTimeNow(this.clock);
    let written: boolean;
    if (!lease) {
      written = await this.write(undefined, {
        holderIdentity: this.identity,
        leaseDurationSeconds: leaseSeconds(this.leaseMs),
        acquireTime: now,
        renewTime: now,
        leaseTransitions: 0,
      });
    } else {
      this.observe(lease);
      const holder = lease.spec?.holderIdentity || undefined;
      // Expired only once seen unchanged for the duration the record says (its holder's promise), not this replica's own.
      if (holder !== undefined && holder !== this.identity && this.clock.now() - this.observed!.at < this.observed!.holdMs) return;
      written = await this.write(lease, {
        holderIdentity: this.identity,
        leaseDurationSeconds: leaseSeconds(this.leaseMs),
        acquireTime: holder === this.identity ? (lease.spec?.acquireTime ?? now) : now,
        renewTime: now,
        leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + (holder === this.identity ? 0 : 1),
      });
    }
    if (!written) return;
    this.hold = new AbortController();
    this.armDeadline(sent);
    if (!this.stopping) this.startTerm(work);
  }

  /** One renewal; the deadline timer ends the hold (and the term) if renewals stop succeeding. */
  private async renew(): Promise<void> {
    const hold = this.hold!;
    const sent = this.clock.now();
    const signal = AbortSignal.any([hold.signal, this.stopper.signal]);
    const lease = await this.api.getIfExists(this.opts.name, { signal });
    if (!lease || (lease.spec?.holderIdentity || undefined) !== this.identity) {
      if (lease) this.observe(lease);
      this.lose(`the Lease is held by ${lease?.spec?.holderIdentity || 'no one'} now`);
      return;
    }
    const written = await this.write(lease, { ...lease.spec, renewTime: microTimeNow(this.clock) }, signal);
    if (written && this.hold === hold && !hold.signal.aborted) this.armDeadline(sent);
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

  private startTerm(work: LeaderWork): void {
    const term = new AbortController();
    this.term = term;
    this.log.info(`leader election ${this.opts.namespace}/${this.opts.name}: ${this.identity} leads`, this.logFields());
    this.opts.onStartedLeading?.();
    const done: Promise<void> = (async () => work(term.signal))()
      .then(
        () => {
          if (!term.signal.aborted)
            this.log.info(`leader election ${this.opts.namespace}/${this.opts.name}: the work returned; leading, idle, until the term ends`, this.logFields());
        },
        (err) =>
          this.log.error(
            `leader election ${this.opts.namespace}/${this.opts.name}: the work failed: ${(err as Error)?.message ?? String(err)}`,
            this.logFields(),
          ),
      )
      .finally(() => {
        if (this.work === done) this.work = undefined;
        // Someone waits for the work: a stop (to release), or the campaign after a lost term.
        if (this.stopping || !this.hold) this.pause.wake();
      });
    this.work = done;
  }

  /** The hold ends at `sent` + renewDeadline unless a later renewal succeeds first. */
  private armDeadline(sent: number): void {
    this.clock.clearTimer(this.deadline);
    const left = sent + this.renewMs - this.clock.now();
    this.deadline = this.clock.setTimer(() => this.lose(`no renewal succeeded within ${this.renewMs} ms`), Math.max(0, left));
    unrefTimer(this.deadline);
  }

  /** This replica no longer holds the Lease: the term ends, and it campaigns again once the work has returned. */
  private lose(why: string): void {
    this.clock.clearTimer(this.deadline);
    this.hold?.abort();
    this.hold = undefined;
    this.endTerm(why);
  }

  private endTerm(why: string): void {
    const term = this.term;
    if (!term || term.signal.aborted) return;
    term.abort(new RequestAbortedError(`leadership of ${this.opts.namespace}/${this.opts.name} ended: ${why}`));
    this.log.info(`leader election ${this.opts.namespace}/${this.opts.name}: ${this.identity} stopped leading: ${why}`, this.logFields());
    this.opts.onStoppedLeading?.();
  }

  /** At the end of the campaign: stops renewing and releases the Lease if this replica still holds it (as client-go, not after it lost it). */
  private async releaseAtEnd(): Promise<void> {
    this.clock.clearTimer(this.deadline);
    const held = this.hold !== undefined;
    this.hold?.abort();
    this.hold = undefined;
    if (held && this.opts.releaseOnStop !== false) await this.release();
  }

  /** Clears the holder (if still this replica), so that the next candidate need not wait for the Lease to expire; gives up after `releaseTimeout`. */
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
      this.log.warn(`leader election ${this.opts.namespace}/${this.opts.name}: release failed (the Lease expires instead): ${why}`, this.logFields());
    } finally {
      this.clock.clearTimer(timer);
    }
  }
}
