/**
 * Sharding: every replica of a ring active, each acting on its own slice of
 * the objects — the `ShardRange` of the hash space (see `shard-range.ts`)
 * each object's uid falls in.
 *
 * Membership lives in Kubernetes: each replica holds a Lease of its own in
 * the ring's namespace, labelled with the ring's name, and renews it; every
 * replica lists the ring's Leases and, from the live ones, computes the same
 * assignment: the members sorted by identity split the hash space into equal
 * ranges, in order. A member is live while its Lease has been seen unchanged
 * for less than the duration that Lease says (`leaseHoldMs`).
 *
 * The work. A member hands its work to `run` as a function; each term of
 * acting on a range calls it with the range and the term's signal, which
 * aborts when the member must let go of the range.
 *
 * Hand-over — no range acted on by two replicas at once:
 * - Each replica publishes in its Lease (annotation `kubereflect.dev/holding`)
 *   the range it claims, and renews that claim with the Lease. It acts only
 *   on a range it claims.
 * - When its assigned range changes (or it stops), it aborts the term's
 *   signal and keeps its claim — renewing it — until the work has *returned*;
 *   only then does it withdraw the claim (a stop: delete its Lease), and only
 *   after that does it claim the new range. So while a member can renew, its
 *   range is not handed over before its work on it has ended, however long
 *   that takes.
 * - After writing a claim it reads the ring, and starts a term only when it
 *   is itself live (within its renew deadline) and no other live member
 *   claims any of the range. Writes are linearised by the server: of two
 *   members whose claims overlap, the one that wrote second reads the other's
 *   claim and does not act; if both see each other, the larger identity
 *   withdraws.
 * - A member whose Lease expired claims nothing: at its own renew deadline —
 *   renewDeadline after it sent its last successful renewal, a timer — the
 *   term's signal aborts, before its Lease can expire for the others (the
 *   timing argument of leader election, in `leader-election.ts`). So a
 *   crashed replica's range is taken over once its Lease has been seen
 *   unchanged for the duration that Lease says, plus a retry period or two;
 *   and work that ignores its signal and runs on past the margin —
 *   leaseDuration (as its Lease says) − renewDeadline after its last
 *   successful renewal was sent — on a member that cannot renew can overlap
 *   the next holder's.
 * - "Left my shard" is not "deleted": a consumer tells them apart by the
 *   term's signal (the range moved) versus a Delete event (the object went).
 */
import { Api } from '../client/api.ts';
import type { Client } from '../client/client.ts';
import { systemClock, unrefTimer, type Clock } from '../core/clock.ts';
import { RequestAbortedError, ApiError, RequestTimeoutError } from '../core/errors.ts';
import { jitter } from '../core/jitter.ts';
import { silentLogger, type Logger } from '../core/logger.ts';
import { defaultIdentity, leaseHoldMs, leaseObject, leaseSeconds, leaseTiming, LEASES, microTimeNow, Pause, writeLease, type Lease } from './lease.ts';
import { ShardRange } from './shard-range.ts';

/** The label that marks a ring's Leases. */
export const RING_LABEL = 'kubereflect.dev/ring';
/** The annotation of a member's Lease with the range it claims. */
export const HOLDING_ANNOTATION = 'kubereflect.dev/holding';

/** A term of a ring member acting on a range: what `ShardRing.run` hands the work, and what a `Controller`'s `shard` option takes. */
export interface ShardTerm {
  /** The range this member acts on during the term. */
  readonly range: ShardRange;
  /** Aborts when the member must let go of the range: it moved, the member stops, or its renew deadline passed. */
  readonly signal: AbortSignal;
}

/** What a ring member does with a range: settle once the work on `term.range` has stopped (the member keeps its claim until then). */
export type ShardWork = (term: ShardTerm) => Promise<void> | void;

/** Options of a `ShardRing`. Durations in milliseconds, as leader election's. */
export interface ShardRingOptions {
  /** Where the ring's Leases live. */
  namespace: string;
  /** The ring: replicas with the same ring share the hash space. A DNS label. */
  ring: string;
  /** This replica's identity, unique in the ring (default: host name, pid and a random suffix, see `defaultIdentity`). A DNS label. */
  identity?: string;
  /** How long this member's Lease holds unrenewed: what it writes into its Lease (the others judge it by that). Default 15,000. */
  leaseDuration?: number;
  /** How long this member acts without a successful renewal. Default 10,000. */
  renewDeadline?: number;
  /** How often it renews and reads the ring. Default 2,000. */
  retryPeriod?: number;
  /** How long `stop()` tries to delete this member's Lease before it leaves it to expire (the server unreachable, say). Default 5,000. */
  leaveTimeout?: number;
  /**
   * Where the ring reads the time and waits: its retry period, its renew
   * deadline, when it saw each member's Lease change; and the wall-clock
   * times it writes into its Lease. Default `systemClock`; unit tests pass
   * a clock they move by hand.
   */
  clock?: Clock;
  /** Called when the live members change, with their identities in ring order. */
  onMembers?: (members: readonly string[]) => void;
  logger?: Logger;
}

interface Member {
  identity: string;
  holding: ShardRange | undefined;
  key: string;
  seenAt: number;
  /** How long its Lease holds once seen unchanged: the duration it says (`leaseHoldMs`). */
  holdMs: number;
}

/** A term and its work: `running` until the work has settled. */
interface Term {
  range: ShardRange;
  acting: AbortController;
  running: boolean;
  done: Promise<void>;
}

/**
 * This replica's membership of a ring (see the module comment).
 *
 * @example
 * const ring = new ShardRing(client, { namespace: 'shop', ring: 'widget-operator' });
 * process.once('SIGTERM', () => void ring.stop());   // lets go of the range once the work has returned, then leaves
 * await ring.run((term) =>
 *   new Controller(Widget.api(client, 'shop'), { shard: term }).run(reconcile), // resolves once its last reconcile has returned
 * );
 */
export class ShardRing {
  /** This member's identity in the ring. */
  readonly identity: string;
  private readonly api: Api<Lease>;
  private readonly leaseMs: number;
  private readonly renewMs: number;
  private readonly retryMs: number;
  private readonly log: Logger;
  private readonly clock: Clock;
  /** Aborted when the membership ends (at `stop()`, once the work has returned): ends the loop and its request in flight. */
  private readonly stopper = new AbortController();
  private stopping = false;
  private readonly seen = new Map<string, Member>();
  private own: Lease | undefined;
  /** The range this replica's Lease claims: it acts on it only once no other live member claims any of it, and keeps it until its work on it has ended. */
  private claim: ShardRange | undefined;
  private term: Term | undefined;
  private lastRenewSent = -Infinity;
  private deadline: unknown;
  private members: string[] = [];
  private running: Promise<void> | undefined;
  /** The wait between rounds, cut short by a stop or the end of the work. */
  private readonly pause: Pause;

  /** A member of `opts.ring` through `client`; call `run()` to join. @throws RangeError for inconsistent durations. */
  constructor(
    client: Client,
    private readonly opts: ShardRingOptions,
  ) {
    this.identity = opts.identity ?? defaultIdentity();
    ({ leaseMs: this.leaseMs, renewMs: this.renewMs, retryMs: this.retryMs } = leaseTiming(opts, 'a shard ring'));
    this.api = new Api<Lease>(client, LEASES, opts.namespace);
    this.log = opts.logger ?? silentLogger;
    this.clock = opts.clock ?? systemClock;
    this.pause = new Pause(this.clock, this.stopper.signal);
  }

  /** The fields of this member's log lines. */
  private logFields(): { ring: string; identity: string } {
    return { ring: this.opts.ring, identity: this.identity };
  }
  /** The range this replica acts on now (a term whose signal has not aborted), if any. */
  get range(): ShardRange | undefined {
    return this.term && !this.term.acting.signal.aborted ? this.term.range : undefined;
  }

  /** The range this replica's Lease claims now: its term's, and until the work of a term that ended has returned. */
  get claimed(): ShardRange | undefined {
    return this.claim;
  }

  /** The live members, in ring order, as last computed. */
  get liveMembers(): readonly string[] {
    return this.members;
  }

  /**
   * Joins the ring and follows it until `stop()`, calling `work` at the
   * start of each term of acting on a range, and keeping the claim on that
   * range (renewed in its Lease) until the call has settled — past the end
   * of the term if the work takes that long. The next term (another range)
   * begins only after that. Resolves once stopped: the last work has settled
   * and this member's Lease is deleted (or left to expire, see
   * `leaveTimeout`). Work that throws is logged; work that returns before its
   * term ends leaves the member holding the range, idle, until it ends.
   * Call it once.
   *
   * @throws Error when called a second time.
   */
  run(work: ShardWork): Promise<void> {
    if (this.running) throw new Error(`kubereflect: shard ring ${this.opts.ring}: run() was called already`);
    this.running = this.stopping ? Promise.resolve() : this.loop(work).then(() => this.leave());
    return this.running;
  }

  /**
   * Stops acting and leaves the ring: ends the term (its signal aborts),
   * waits until the work has returned — renewing the claim meanwhile — then
   * deletes this member's Lease, so that the others rebalance at once, and
   * resolves as `run()` does. Work that never returns keeps it waiting: to
   * bound a shutdown, exit the process (its Lease then expires after the
   * duration it says).
   */
  async stop(): Promise<void> {
    this.stopping = true;
    this.endTerm('the ring member stopped');
    this.pause.wake();
    await this.term?.done;
    this.stopper.abort();
    this.pause.wake();
    await this.running?.catch(() => {});
  }

  private get leaseName(): string {
    return `${this.opts.ring}-${this.identity}`.slice(0, 253);
  }

  private async loop(work: ShardWork): Promise<void> {
    const signal = this.stopper.signal;
    while (!signal.aborted) {
      try {
        await this.step(work);
      } catch (err) {
        if (signal.aborted) break;
        this.log.warn(`shard ring ${this.opts.ring}: ${(err as Error).message}`, this.logFields());
      }
      if (this.stopping && !this.term?.running) break;
      await this.pause.for(jitter(this.retryMs, { above: 0.1 }));
    }
  }

  /**
   * One round: renew (publishing the claim), read the ring, then move one
   * step: end the term on a range no longer assigned (its claim stays until
   * the work has returned, then this renewal withdraws it), claim the
   * assigned range, or start a term on the claim once this member is live
   * and no other live member claims any of it.
   */
  private async step(work: ShardWork): Promise<void> {
    if (this.term && !this.term.running && this.term.acting.signal.aborted) {
      // The work on the old range has returned: this renewal withdraws the claim.
      this.term = undefined;
      this.claim = undefined;
    }
    await this.renew();
    let live = await this.readRing();
    const index = live.indexOf(this.identity);
    const target = index < 0 ? undefined : ShardRange.of(index, live.length);
    if (this.term) {
      if (!this.term.range.equals(target)) this.endTerm(`the ring now assigns ${target ?? 'nothing'} to ${this.identity}`);
      return; // acting, or keeping the claim until the work has returned
    }
    if (this.stopping) return;
    if (this.claim && !this.claim.equals(target)) {
      this.claim = undefined;
      await this.renew();
      return;
    }
    if (!this.claim) {
      if (!target) return;
      // Claim first, then look: of two members whose claims overlap, the one that wrote second sees the other's.
      this.claim = target;
      await this.renew();
      live = await this.readRing();
    }
    // Only within its own renew deadline (readRing counts this member live only then): never a term it would have to end at once, or already past it.
    if (!live.includes(this.identity) || this.stopping) return;
    const claim = this.claim;
    const rivals = [...this.seen.values()].filter((m) => m.identity !== this.identity && live.includes(m.identity) && m.holding?.overlaps(claim));
    if (!rivals.length) this.startTerm(claim, work);
    else if (rivals.some((r) => r.identity < this.identity)) {
      // Both saw each other: the smaller identity keeps its claim.
      this.claim = undefined;
      await this.renew();
    }
  }

  /** Creates or renews this replica's Lease with its claim; arms the deadline at which a term stops acting. */
  private async renew(): Promise<void> {
    const sent = this.clock.now();
    const now = microTimeNow(this.clock);
    const holding = this.claim?.toJSON() ?? '';
    const body = leaseObject(
      {
        ...(this.own?.metadata ?? {}),
        name: this.leaseName,
        namespace: this.opts.namespace,
        labels: { ...(this.own?.metadata?.labels ?? {}), [RING_LABEL]: this.opts.ring },
        annotations: { ...(this.own?.metadata?.annotations ?? {}), [HOLDING_ANNOTATION]: holding },
      },
      { holderIdentity: this.identity, leaseDurationSeconds: leaseSeconds(this.leaseMs), renewTime: now, acquireTime: this.own?.spec?.acquireTime ?? now },
    );
    const signal = this.stopper.signal;
    try {
      this.own = await writeLease(this.api, this.own, body, signal);
    } catch (err) {
      if (err instanceof ApiError && (err.statusCode === 409 || err.statusCode === 404)) {
        this.own = await this.api.getIfExists(this.leaseName, { signal }); // someone else wrote it (or it was deleted): start from what is there
        throw new Error(`renewing ${this.leaseName}: ${err.message} (retrying)`, { cause: err });
      }
      throw err;
    }
    this.lastRenewSent = sent;
    this.clock.clearTimer(this.deadline);
    this.deadline = this.clock.setTimer(
      () => this.endTerm(`no renewal of ${this.leaseName} succeeded within ${this.renewMs} ms`),
      Math.max(0, sent + this.renewMs - this.clock.now()),
    );
    unrefTimer(this.deadline);
  }

  /** The live members in ring order: this replica (while its renewals succeed) and every Lease of the ring seen unchanged for less than the duration it says. */
  private async readRing(): Promise<string[]> {
    // No resourceVersion: a consistent read, so that a claim written before this list is in it.
    const list = await this.api.list({ labelSelector: `${RING_LABEL}=${this.opts.ring}`, signal: this.stopper.signal });
    const now = this.clock.now();
    const present = new Set<string>();
    for (const lease of list.items) {
      const identity = lease.spec?.holderIdentity;
      if (!identity) continue;
      present.add(identity);
      const key = JSON.stringify([lease.spec?.renewTime, lease.spec?.leaseDurationSeconds, lease.metadata?.annotations?.[HOLDING_ANNOTATION]]);
      const before = this.seen.get(identity);
      if (before?.key === key) continue;
      this.seen.set(identity, {
        identity,
        key,
        seenAt: now,
        holdMs: leaseHoldMs(lease, this.leaseMs),
        holding: ShardRange.parse(lease.metadata?.annotations?.[HOLDING_ANNOTATION]),
      });
    }
    for (const id of [...this.seen.keys()]) if (!present.has(id)) this.seen.delete(id);
    const live = [...this.seen.values()]
      .filter((m) => (m.identity === this.identity ? now - this.lastRenewSent < this.renewMs : now - m.seenAt < m.holdMs))
      .map((m) => m.identity)
      .sort();
    if (live.join() !== this.members.join()) {
      this.members = live;
      this.opts.onMembers?.(live);
    }
    return live;
  }

  private startTerm(range: ShardRange, work: ShardWork): void {
    const acting = new AbortController();
    this.log.info(`shard ring ${this.opts.ring}: ${this.identity} acts on ${range}`, this.logFields());
    const term: Term = { range, acting, running: true, done: Promise.resolve() };
    term.done = (async () => work({ range, signal: acting.signal }))()
      .then(
        () => {
          if (!acting.signal.aborted)
            this.log.info(`shard ring ${this.opts.ring}: the work on ${range} returned; holding it, idle, until the term ends`, this.logFields());
        },
        (err) => this.log.error(`shard ring ${this.opts.ring}: the work on ${range} failed: ${(err as Error)?.message ?? String(err)}`, this.logFields()),
      )
      .finally(() => {
        term.running = false;
        if (acting.signal.aborted) this.pause.wake(); // the claim can go now
      });
    this.term = term;
  }

  /** Ends the current term: its signal aborts; the claim stays until the work has returned. */
  private endTerm(why: string): void {
    const t = this.term;
    if (!t || t.acting.signal.aborted) return;
    t.acting.abort(new RequestAbortedError(`shard ${t.range} of ring ${this.opts.ring} released: ${why}`));
    this.log.info(`shard ring ${this.opts.ring}: ${this.identity} stopped acting on ${t.range}: ${why}`, this.logFields());
  }

  /** Leaves the ring: deletes this member's Lease (the others rebalance at once), giving up after `leaveTimeout`. */
  private async leave(): Promise<void> {
    this.clock.clearTimer(this.deadline);
    const ms = this.opts.leaveTimeout ?? 5000;
    const giveUp = new AbortController();
    const timer = this.clock.setTimer(() => giveUp.abort(new RequestTimeoutError(`deleting Lease ${this.opts.namespace}/${this.leaseName}`, ms)), ms);
    unrefTimer(timer);
    try {
      await this.api.delete(this.leaseName, { signal: giveUp.signal });
    } catch (err) {
      if (!(err instanceof ApiError && err.statusCode === 404)) {
        const why = giveUp.signal.aborted ? (giveUp.signal.reason as Error).message : (err as Error).message;
        this.log.warn(`shard ring ${this.opts.ring}: leaving (the Lease expires instead): ${why}`, this.logFields());
      }
    } finally {
      this.clock.clearTimer(timer);
    }
  }
}
