#!/usr/bin/env node
// The `kubereflect` command. In the kubereflect-generator package the generator
// is compiled JavaScript next to this file; in a checkout it is TypeScript,
// which tsx loads as is (with the checkout's tsconfig, which maps the
// `kubereflect` import to the runtime's source).
import { existsSync } from 'node:fs';

// The floor the runtime and the generator's dependencies need, said in one line before anything else loads.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(`kubereflect: needs Node.js 22.19 or newer; this is Node.js ${process.version}\n`);
  process.exit(1);
}

const compiled = new URL('../generator/cli.js', import.meta.url);
let cli;
if (existsSync(compiled)) {
  cli = await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register({ tsconfig: new URL('../tsconfig.json', import.meta.url).pathname });
  cli = await import('../generator/cli.ts');
}
const code = await cli.main(process.argv.slice(2));
// `rbac` imported an operator's main, whose manager never started: end here rather than wait for what the module left pending.
if (process.argv[2] === 'rbac') process.exit(code);
process.exitCode = code;
