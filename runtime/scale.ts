/**
 * `kubereflect/scale`: more than one replica, on Kubernetes Leases.
 * `LeaderElection` keeps one replica of several acting at a time (client-go's
 * protocol, interoperable with its replicas); `ShardRing` keeps every replica
 * active, each on its own `ShardRange` of the uid hash. Both take the work as
 * a function (`run(work)`) and hold their Lease — or claim — until that work
 * has returned. Guide: docs/scale-out.md.
 *
 * Alpha: a `ShardRange`'s server-side filter (`shardSelector`) rides on the
 * `ShardedListAndWatch` feature gate (alpha in Kubernetes 1.37, off by
 * default). Where the server does not shard, every replica receives every
 * object and keeps only its range, so the ring works on any server; only the
 * bytes saved depend on the gate.
 *
 * @module
 */
import './core/node-version.ts';
export type { LeaderElectionOptions, LeaderWork } from './scale/leader-election.ts';
export { LeaderElection } from './scale/leader-election.ts';
export type { ShardRingOptions, ShardTerm, ShardWork } from './scale/shard-ring.ts';
export { ShardRing } from './scale/shard-ring.ts';
export { ShardRange } from './scale/shard-range.ts';
