/**
 * What a projection costs per object, apart from any watch: the bench's two
 * Pod projections (prune status + managedFields; keep spec.nodeName +
 * status.phase) over 10,000 realistic pods already in memory, and two
 * deeper ones. Run it in two checkouts to compare implementations:
 *
 *   npx tsx bench/projection-cost.ts [--reps 9] [--pods 10000]
 *
 * Prints the median and min–max nanoseconds per pod of each projection.
 */
import { parseArgs } from 'node:util';
import { Pod } from '../generated/core/v1/pod.ts';
import { podSpec, podStatus } from './data.ts';

const { values } = parseArgs({
  allowNegative: true,
  options: { reps: { type: 'string', default: '9' }, pods: { type: 'string', default: '10000' }, deep: { type: 'boolean', default: true } },
});
const reps = Number(values.reps);
const n = Number(values.pods);

const pods: Pod[] = Array.from({ length: n }, (_, i) => {
  const spec = podSpec(i, 'bench');
  const status = podStatus(i, 'bench');
  const managedFields = [
    {
      manager: 'kube-controller-manager',
      operation: 'Apply',
      apiVersion: 'v1',
      time: '2026-01-01T00:00:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: { 'f:metadata': { 'f:labels': { 'f:app': {} } }, 'f:spec': { 'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:image': {} } } } },
    },
    {
      manager: 'kubelet',
      operation: 'Update',
      apiVersion: 'v1',
      time: '2026-01-01T00:00:00Z',
      fieldsType: 'FieldsV1',
      subresource: 'status',
      fieldsV1: { 'f:status': { 'f:phase': {}, 'f:podIP': {} } },
    },
  ];
  return JSON.parse(
    JSON.stringify({ ...spec, metadata: { ...spec.metadata, uid: `uid-${i}`, resourceVersion: String(i), managedFields }, status: status.status }),
  ) as Pod;
});

const projections: [string, (p: Pod) => unknown][] = [
  ['prune { status, metadata.managedFields }', Pod.prune({ status: true, metadata: { managedFields: true } })],
  ['keep { spec.nodeName, status.phase }', Pod.keep({ spec: { nodeName: true }, status: { phase: true } })],
];
if (values.deep) {
  projections.push(
    [
      'prune { spec.containers[*].env, status.conditions[*].message, managedFields[*].fieldsV1 }',
      Pod.prune({ spec: { containers: { env: true } }, status: { conditions: { message: true } }, metadata: { managedFields: { fieldsV1: true } } } as never),
    ],
    [
      'keep { status.conditions[*].{type,status}, spec.containers[*].name }',
      Pod.keep({ status: { conditions: { type: true, status: true } }, spec: { containers: { name: true } } } as never),
    ],
  );
}

let sink = 0;
for (const [name, fn] of projections) {
  for (let i = 0; i < 3; i++) for (const p of pods) sink += fn(p) ? 1 : 0; // warm up
  const ns: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t = process.hrtime.bigint();
    for (const p of pods) sink += fn(p) ? 1 : 0;
    ns.push(Number(process.hrtime.bigint() - t) / pods.length);
  }
  ns.sort((a, b) => a - b);
  console.log(`${name}: ${ns[ns.length >> 1]!.toFixed(0)} ns/pod (${ns[0]!.toFixed(0)}–${ns[ns.length - 1]!.toFixed(0)})`);
}
if (sink < 0) console.log(sink);
