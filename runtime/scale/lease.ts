/**
 * The Lease (`coordination.k8s.io/v1`) plumbing that leader election and the
 * shard ring share: the object and where it lives, its timestamps, its
 * timing options, the default replica identity, and a write that creates or
 * replaces under optimistic concurrency.
 *
 * Both protocols measure time only as durations on the replica's own
 * monotonic clock (`Clock.now`); the wall-clock times written into a Lease
 * (`acquireTime`, `renewTime`) are for people and other tools, and serve the
 * protocols only as "the record changed".
 */
import type { Api } from '../client/api.ts';
import type { Clock } from '../core/clock.ts';
import type { KubeObject, ObjectMetaLike, ResourceDescriptor } from '../core/types.ts';

/** A `coordination.k8s.io/v1` Lease, as leader election and the shard ring read and write it. */
export interface Lease extends KubeObject {
  spec?: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number | null;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number | null;
    [key: string]: unknown;
  };
}

/** Where Leases live. */
export const LEASES: ResourceDescriptor = {
  group: 'coordination.k8s.io',
  version: 'v1',
  kind: 'Lease',
  plural: 'leases',
  namespaced: true,
  verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
};

/** A `MicroTime` (RFC 3339 with microseconds), as Leases carry their times; `ms` is since the Unix epoch. */
export const toMicroTime = (ms: number) => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

/** The `MicroTime` of now on `clock`'s wall clock (`Date.now()` for a clock without one). */
export const microTimeNow = (clock: Clock) => toMicroTime(clock.wallNow?.() ?? Date.now());

/** A Lease object: `metadata` and `spec` with the type fields. */
export function leaseObject(metadata: ObjectMetaLike, spec: NonNullable<Lease['spec']>): Lease {
  return { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata, spec };
}

/**
 * Creates `lease` when there is no `current` one, else replaces it. The
 * replace carries the `resourceVersion` of what was read (in `lease.metadata`),
 * so it fails with 409 Conflict when someone wrote in between; a create fails
 * with 409 AlreadyExists when someone created it first.
 */
export function writeLease(api: Api<Lease>, current: Lease | undefined, lease: Lease, signal: AbortSignal): Promise<Lease> {
  return current ? api.replace(lease.metadata!.name!, lease, { signal }) : api.create(lease, { signal });
}

/** `leaseDurationSeconds` for a duration in milliseconds: whole seconds, rounded up so the Lease never promises less. */
export const leaseSeconds = (ms: number) => Math.ceil(ms / 1000);

/**
 * How long an observed Lease holds for its holder, in milliseconds: the
 * record's own `spec.leaseDurationSeconds` — what its holder promised, and
 * what the LeaseSpec tells candidates to wait before taking it — or
 * `fallbackMs` (the observer's own configured `leaseDuration`) when the
 * record says none. Both protocols judge another replica's Lease by it, counted from
 * when the observer first saw the record unchanged: so replicas with
 * different settings (a rolling update that changes them, or a client-go
 * replica on the same Lease) never take a Lease its holder may still act on.
 */
export function leaseHoldMs(lease: Lease | undefined, fallbackMs: number): number {
  const seconds = lease?.spec?.leaseDurationSeconds;
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : fallbackMs;
}

/** The three durations of a Lease protocol, in milliseconds; the defaults are client-go's. */
export interface LeaseTiming {
  /** How long a Lease that is not renewed stays with its holder: what this replica writes into its Lease (others judge a Lease by what it says, `leaseHoldMs`). */
  leaseMs: number;
  /** How long the holder keeps acting without a successful renewal. */
  renewMs: number;
  /** How often to try to acquire, and to renew. */
  retryMs: number;
}

/**
 * The durations with client-go's defaults (15 s, 10 s, 2 s). `what` names
 * the user in the error.
 * @throws RangeError unless leaseDuration > renewDeadline > retryPeriod > 0:
 * the safety margin of both protocols is leaseDuration − renewDeadline.
 */
export function leaseTiming(opts: { leaseDuration?: number; renewDeadline?: number; retryPeriod?: number }, what: string): LeaseTiming {
  const leaseMs = opts.leaseDuration ?? 15_000;
  const renewMs = opts.renewDeadline ?? 10_000;
  const retryMs = opts.retryPeriod ?? 2_000;
  if (!(leaseMs > renewMs && renewMs > retryMs && retryMs > 0)) {
    throw new RangeError(`kubereflect: ${what} needs leaseDuration > renewDeadline > retryPeriod > 0 (got ${leaseMs}, ${renewMs}, ${retryMs})`);
  }
  return { leaseMs, renewMs, retryMs };
}

/**
 * This replica's default identity: the host name, the process id and a
 * random suffix, e.g. `web-7d9f-1234-k3x9qa`. Lower-case letters, digits and
 * `-` only, because the shard ring puts the identity into its Lease's name,
 * which must be a DNS subdomain (an `_` or upper-case letter is refused);
 * leader election, which only writes it into `holderIdentity`, takes the
 * same format so that one replica is called the same in both.
 */
export function defaultIdentity(): string {
  const host = (process.env.HOSTNAME || process.env.COMPUTERNAME || 'replica').toLowerCase().replace(/[^a-z0-9-]/g, '-');
  return `${host}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * The wait between two rounds of a renew loop (leader election's, the
 * ring's): `ms` on the clock, cut short by `wake()` (a stop, the end of the
 * work) or at once when `stopped` has aborted.
 */
export class Pause {
  private woken: (() => void) | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly stopped: AbortSignal,
  ) {}

  /** Resolves after `ms`, or at the next `wake()`. */
  for(ms: number): Promise<void> {
    if (this.stopped.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.clock.setTimer(() => this.woken?.(), ms);
      this.woken = () => {
        this.clock.clearTimer(timer);
        this.woken = undefined;
        resolve();
      };
    });
  }

  /** Ends the pause in progress, if any. */
  wake(): void {
    this.woken?.();
  }
}
