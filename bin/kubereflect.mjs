#!/usr/bin/env node
// The `kubereflect` command. The generator is written in TypeScript; tsx loads it as is.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../generator/cli.ts');
process.exitCode = await main(process.argv.slice(2));
