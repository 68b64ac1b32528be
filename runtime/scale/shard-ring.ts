/**
 * Sharding: every replica of a ring active, each acting on its own slice of
 * the objects — the `ShardRange` of the hash space (see `shard-range.ts`)
 * each object's uid falls in.
 *
 * Membership lives in Kubernetes: each replica holds a Lease of its own in
 * the ring's namespace, labelled with the ring's name, and renews it; every
 * replica lists the ring's Leases and, from the live ones, computes the same
 * assignment: the members sorted by identity split the hash space into equal
 * ranges, in order.
 *
 * Hand-over — no range acted on by two replicas at once:
 * - Each replica publishes in its Lease (annotation `kubereflect.dev/holding`)
 *   the range it claims, and renews that claim with the Lease. It acts only
 *   on a range it claims.
 * - When its assigned range changes, it first stops acting on the old range
 *   (the `acting` signal aborts), then withdraws the claim; only then does it
 *   claim the new one.
 * - After writing a claim it reads the ring, and starts acting only when no
 *   other live member claims any of the range. Writes are linearised by the
 *   server: of two members whose claims overlap, the one that wrote second
 *   reads the other's claim and does not act; if both see each other, the
 *   larger identity withdraws. A member whose Lease expired claims nothing: it stopped at
 *   its own renew deadline before its Lease could expire (the timing
 *   argument of leader election, in `leader-election.ts`), so a crashed replica's
 *   range is taken over once its Lease has been seen unchanged for the
 *   duration that Lease says (its holder's `leaseDuration`, whatever the
 *   observer's own), plus a retry period or two.
 * - "Left my shard" is not "deleted": a consumer tells them apart by the
 *   `acting` signal (the range moved) versus a Delete event (the object went).
 */
import { Api } from '../client/api.ts';
import { sleep } from '../core/backoff.ts';
import type { Client } from '../client/client.ts';
import { systemClock, unrefTimer, type Clock } from '../core/clock.ts';
import { RequestAbortedError, ApiError } from '../core/errors.ts';
import { jitter } from '../core/jitter.ts';
import { silentLogger, type Logger } from '../core/logger.ts';
import { defaultIdentity, leaseHoldMs, leaseObject, leaseSeconds, leaseTiming, LEASES, microTimeNow, writeLease, type Lease } from './lease.ts';
import { ShardRange } from './shard-range.ts';

/** The label that marks a ring's Leases. */
export const RING_LABEL = 'kubereflect.dev/ring';
/** The annotation of a member's Lease with the range it claims. */
export const HOLDING_ANNOTATION = 'kubereflect.dev/holding';

/** Options of a `ShardRing`. Durations in milliseconds, as leader election's. */
export interface ShardRingOptions {
  /** Where the ring's Leases live. */
  namespace: string;
  /** The ring: replicas with the same ring share the hash space. A DNS label. */
  ring: string;
  /** This replica's identity, unique in the ring (default: host name, pid and a random suffix, see `defaultIdentity`). A DNS label. */
  identity?: string;
  /** Default 15,000. */
  leaseDuration?: number;
  /** Default 10,000. */
  renewDeadline?: number;
  /** Default 2,000. */
  retryPeriod?: number;
  /**
   * Where the ring reads the time and waits: its retry period, its renew
   * deadline, when it saw each member's Lease change; and the wall-clock
   * times it writes into its Lease. Default `systemClock`; unit tests pass
   * a clock they move by hand.
   */
  clock?: Clock;
  /** Called when this replica starts acting on `range`; `acting` aborts when it stops (the range moved, or the ring stopped). */
  onAcquired?: (range: ShardRange, acting: AbortSignal) => void;
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

/**
 * This replica's membership of a ring (see the module comment).
 *
 * @example
 * const ring = new ShardRing(client, { namespace: 'shop', ring: 'widget-operator' });
 * void ring.run();
 * for (;;) {
 *   const { range, acting } = await ring.acquired();
 *   await runTheControllerFor(range, acting);   // only objects whose uid hashes into range; stop when acting aborts
 * }
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
  private readonly stopper = new AbortController();
  private readonly seen = new Map<string, Member>();
  private own: Lease | undefined;
  /** The range this replica's Lease claims: it acts on it only once no other live member claims any of it. */
  private claim: ShardRange | undefined;
  private holding: { range: ShardRange; acting: AbortController } | undefined;
  private lastRenewSent = -Infinity;
  private deadline: unknown;
  private members: string[] = [];
  private waiters: ((h: { range: ShardRange; acting: AbortSignal }) => void)[] = [];
  private running: Promise<void> | undefined;

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
  }

  /** The range this replica acts on now, if any. */
  get range(): ShardRange | undefined {
    return this.holding && !this.holding.acting.signal.aborted ? this.holding.range : undefined;
  }

  /** The live members, in ring order, as last computed. */
  get liveMembers(): readonly string[] {
    return this.members;
  }

  /** Resolves when this replica acts on a range (at once if it does). */
  acquired(): Promise<{ range: ShardRange; acting: AbortSignal }> {
    const range = this.range;
    if (range) return Promise.resolve({ range, acting: this.holding!.acting.signal });
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Joins the ring and follows it until `stop()`. */
  run(): Promise<void> {
    this.running ??= this.loop();
    return this.running;
  }

  /** Stops acting, leaves the ring (deletes this replica's Lease, so the others rebalance at once). */
  async stop(): Promise<void> {
    this.release('the ring member stopped');
    this.stopper.abort();
    await this.running?.catch(() => {});
    this.clock.clearTimer(this.deadline);
    try {
      await this.api.delete(this.leaseName);
    } catch (err) {
      if (!(err instanceof ApiError && err.statusCode === 404)) this.log.warn(`shard ring ${this.opts.ring}: leaving: ${(err as Error).message}`);
    }
  }

  private get leaseName(): string {
    return `${this.opts.ring}-${this.identity}`.slice(0, 253);
  }

  private async loop(): Promise<void> {
    const signal = this.stopper.signal;
    while (!signal.aborted) {
      try {
        await this.step();
      } catch (err) {
        if (signal.aborted) break;
        this.log.warn(`shard ring ${this.opts.ring}: ${(err as Error).message}`);
      }
      await sleep(jitter(this.retryMs, { above: 0.1 }), signal, this.clock);
    }
  }

  /**
   * One round: renew (publishing the claim), read the ring, then move one
   * step: let go of a range no longer assigned (stop acting first, then
   * withdraw the claim), claim the assigned one, or start acting on the claim
   * once no other live member claims any of it.
   */
  private async step(): Promise<void> {
    await this.renew();
    let live = await this.readRing();
    const index = live.indexOf(this.identity);
    const target = index < 0 ? undefined : ShardRange.of(index, live.length);
    if (this.claim && !this.claim.equals(target)) {
      this.release(`the ring now assigns ${target ?? 'nothing'} to ${this.identity}`);
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
    if (this.range) return;
    const claim = this.claim;
    const rivals = [...this.seen.values()].filter((m) => m.identity !== this.identity && live.includes(m.identity) && m.holding?.overlaps(claim));
    if (!rivals.length) this.acquire(claim);
    else if (rivals.some((r) => r.identity < this.identity)) {
      // Both saw each other: the smaller identity keeps its claim.
      this.claim = undefined;
      await this.renew();
    }
  }

  /** Creates or renews this replica's Lease with its holding; arms the deadline after which it stops acting. */
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
      () => this.release(`no renewal of ${this.leaseName} succeeded within ${this.renewMs} ms`),
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

  private acquire(range: ShardRange): void {
    const acting = new AbortController();
    this.holding = { range, acting };
    this.log.info(`shard ring ${this.opts.ring}: ${this.identity} acts on ${range}`);
    this.opts.onAcquired?.(range, acting.signal);
    for (const w of this.waiters.splice(0)) w({ range, acting: acting.signal });
  }

  private release(why: string): void {
    const h = this.holding;
    this.holding = undefined;
    if (!h || h.acting.signal.aborted) return;
    h.acting.abort(new RequestAbortedError(`shard ${h.range} of ring ${this.opts.ring} released: ${why}`));
    this.log.info(`shard ring ${this.opts.ring}: ${this.identity} stopped acting on ${h.range}: ${why}`);
  }
}
