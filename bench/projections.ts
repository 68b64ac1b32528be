/**
 * The two projections the benchmarks store through `modify`, from the
 * generated `Pod` (`generated/core/v1/pod.ts`):
 *
 * - `prune`: the pod without `status` and `metadata.managedFields`;
 * - `keep`: only `spec.nodeName` and `status.phase`, plus `apiVersion`,
 *   `kind` and the identity metadata (name, namespace, uid, resourceVersion).
 */
import { Pod } from '../generated/core/v1/pod.ts';
import type { BenchPod } from './data.ts';

export type Projection = (pod: BenchPod) => BenchPod;

// The benchmarks type pods loosely (`BenchPod`); the projections are the generated, fully typed ones.
export const prune = Pod.prune({ status: true, metadata: { managedFields: true } }) as unknown as Projection;
export const keep = Pod.keep({ spec: { nodeName: true }, status: { phase: true } }) as unknown as Projection;
