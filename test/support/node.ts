/**
 * Node.js binaries of exact versions, for tests that run code as users do on
 * each supported Node line. Node 24 is the repository's own (the `node`
 * devDependency every npm script runs on); other versions come from the npm
 * registry's `node` package too, installed once under
 * `${XDG_CACHE_HOME:-~/.cache}/kubereflect/node/<version>`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const repo = resolve(import.meta.dirname, '..', '..');

/** The Node versions the packages are tested on: the oldest supported line and the one the repository runs on. */
export const NODE_VERSIONS = {
  22: '22.23.3',
  24: (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { devDependencies: { node: string } }).devDependencies.node,
} as const;

/** A Node older than the packages' floor (22.19): they must refuse it in one line, not fail inside a dependency. */
export const NODE_TOO_OLD = '20.20.2';

/** The path of a `node` binary of exactly `version`, installed from the npm registry on first use. */
export function nodeBinary(version: string): string {
  const own = join(repo, 'node_modules', 'node', 'bin', 'node');
  if (version === NODE_VERSIONS[24] && existsSync(own)) return own;
  const dir = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kubereflect', 'node', version);
  const bin = join(dir, 'node_modules', 'node', 'bin', 'node');
  if (existsSync(bin)) return bin;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  execFileSync('npm', ['install', '--prefix', tmp, '--no-save', '--no-audit', '--no-fund', `node@${version}`], { stdio: 'pipe' });
  const got = execFileSync(join(tmp, 'node_modules', 'node', 'bin', 'node'), ['--version'], { encoding: 'utf8' }).trim();
  if (got !== `v${version}`) throw new Error(`installed node@${version} but it reports ${got}`);
  mkdirSync(dirname(dir), { recursive: true });
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return bin;
}
