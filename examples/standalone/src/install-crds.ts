/**
 * Installs (or updates) the CRDs in crds/ on the cluster of the kubeconfig,
 * by server-side apply — what `kubectl apply --server-side -f crds/` does.
 *
 *   npm run install-crds -- [--context NAME]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { applyManifests, Client } from 'kubereflect';
import { parseAllDocuments } from 'yaml';

const { values } = parseArgs({ options: { context: { type: 'string' } } });
const client = Client.fromDefault(values.context ? { context: values.context } : {});
const dir = new URL('../crds/', import.meta.url);
// The yaml package keeps keys as written (x-kubernetes-list-map-keys and the like).
const objects = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) => parseAllDocuments(readFileSync(new URL(f, dir), 'utf8')).map((d) => d.toJS() as unknown));
for (const { object } of await applyManifests(client, objects, { fieldManager: 'backup-operator' })) {
  console.log(`applied ${object.kind} ${object.metadata?.name}`);
}
client.close();
