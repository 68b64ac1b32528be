/**
 * Pruning and projections, checked by the compiler. `Pod.prune(spec)` drops
 * fields; `Pod.keep(spec)` keeps only the named ones (plus the identity
 * metadata the runtime needs). The functions plug into a reflector as
 * `transform`, before objects reach the store, and their result types follow
 * the spec: reading a dropped field does not compile.
 */
import { Pod } from '../generated/core/v1/pod.ts';
import { connect, freshNamespace, untilDone, type ExampleArgs } from './support/cluster.ts';
import { seedPods } from './support/seed.ts';

const slim = Pod.prune({ status: true, metadata: { managedFields: true, annotations: true } });
const placement = Pod.keep({ spec: { nodeName: true }, status: { phase: true } });
// At any depth: through arrays (every container) and into each element.
const images = Pod.keep({ spec: { containers: { name: true, image: true } } });

export default async function pruneAndKeep(args: ExampleArgs): Promise<void> {
  const { client, local, close } = await connect(args);
  const namespace = local ? await freshNamespace(client, 'prune') : 'default';
  if (local) await seedPods(client, namespace, 3);
  const api = Pod.api(client, namespace);

  const full = Pod.cache(api);
  const pruned = Pod.cache(api, { transform: slim });
  const kept = Pod.cache(api, { transform: placement });
  const deep = Pod.cache(api, { transform: images });
  const runs = [full.run(), pruned.run(), kept.run(), deep.run()];
  await Promise.all([full, pruned, kept, deep].map((r) => r.reader.waitUntilReady()));

  const size = (objects: unknown[]) => JSON.stringify(objects).length;
  console.log(`full:   ${size(full.reader.state())} bytes for ${full.reader.size} pods`);
  console.log(`pruned: ${size(pruned.reader.state())} bytes (no status, managedFields or annotations)`);
  console.log(`kept:   ${size(kept.reader.state())} bytes (spec.nodeName, status.phase and identity only)`);
  console.log(`images: ${size(deep.reader.state())} bytes (each container's name and image, and identity)`);
  for (const p of deep.reader.state()) console.log(`  ${p.metadata.name}: ${p.spec?.containers.map((c) => `${c.name}=${c.image}`).join(', ')}`);
  // deep.reader.state()[0]?.spec?.containers[0]?.env  ← does not compile: not kept
  const one = kept.reader.state()[0];
  if (one) {
    console.log(`a kept pod: ${JSON.stringify(one)}`);
    // one.spec?.containers  ← does not compile: `containers` was not kept
    // pruned.reader.state()[0]?.status  ← does not compile: `status` was pruned
  }
  await untilDone(args);
  for (const r of [full, pruned, kept, deep]) r.stop();
  await Promise.all(runs);
  await close();
}
