/**
 * `npm run example -- <name> [--once] [--context NAME] [--seconds N]`: runs
 * `examples/<name>.ts`. Each example exports a default function that takes
 * the parsed arguments. Without `--context` it uses the local control plane.
 */
import { readdirSync } from 'node:fs';
import { parseArgs } from './support/cluster.ts';

const available = readdirSync(import.meta.dirname)
  .filter((f) => f.endsWith('.ts') && !['run.ts', 'demo.ts'].includes(f))
  .map((f) => f.slice(0, -3))
  .sort();

async function main(): Promise<void> {
  const [name, ...rest] = process.argv.slice(2);
  if (!name || !available.includes(name)) {
    console.error(`usage: npm run example -- <name> [--once] [--context NAME] [--seconds N]\nexamples: ${available.join(', ')}`);
    process.exitCode = 2;
    return;
  }
  const example = (await import(`./${name}.ts`)) as { default: (args: ReturnType<typeof parseArgs>) => Promise<void> };
  await example.default(parseArgs(rest));
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: Error) => {
    console.error(`error: ${err.message}`);
    process.exit(1);
  },
);
