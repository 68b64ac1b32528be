/**
 * The client-go replica of the interop test: builds the Go program in
 * `client-go-elector/` (client-go's own leader election) once and caches the
 * binary outside the work tree, under
 * `${XDG_CACHE_HOME:-~/.cache}/kubereflect/client-go-elector/<hash>/`, keyed
 * by a hash of its go.mod, go.sum and main.go — as the control plane's
 * binaries are cached — so that later runs, and fresh clones on the same
 * machine, start it at once.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const moduleDir = join(dirname(fileURLToPath(import.meta.url)), 'client-go-elector');
const SOURCES = ['go.mod', 'go.sum', 'main.go'];

/** Where the binary of the current sources is (or will be) cached. */
export function clientGoElectorPath(): string {
  const hash = createHash('sha256');
  for (const f of SOURCES)
    hash
      .update(f)
      .update('\0')
      .update(readFileSync(join(moduleDir, f)))
      .update('\0');
  const cacheHome = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cacheHome, 'kubereflect', 'client-go-elector', hash.digest('hex').slice(0, 12), 'client-go-elector');
}

/** The cached binary, built first (`go build`, a few minutes the first time) when the sources changed or nothing is cached yet. */
export async function clientGoElector(log: (line: string) => void = (l) => console.error(l)): Promise<string> {
  const bin = clientGoElectorPath();
  if (existsSync(bin)) return bin;
  const tmp = `${bin}.tmp-${process.pid}`;
  mkdirSync(dirname(bin), { recursive: true });
  log(`building test/scale/client-go-elector (client-go's leader election; first time only, a few minutes) into ${dirname(bin)}`);
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn('go', ['build', '-o', tmp, '.'], {
      cwd: moduleDir,
      env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=readonly' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(-4000)));
    child.on('error', (err) => reject(new Error(`could not run go (Go 1.24 or newer builds the client-go replica): ${err.message}`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`go build of test/scale/client-go-elector failed (exit ${code}):\n${stderr}`))));
  }).catch((err) => {
    rmSync(tmp, { force: true });
    throw err;
  });
  renameSync(tmp, bin);
  log(`built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return bin;
}
