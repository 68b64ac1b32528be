/**
 * Where the control plane's binaries come from, in this order:
 *
 * 1. `KUBEBUILDER_ASSETS` (or the `assets` option): a folder holding
 *    `kube-apiserver` and `etcd`, as `setup-envtest` lays them out
 *    (`…/k8s/1.37.2-linux-amd64/`), so teams reuse what their Go
 *    colleagues have; used as they are, never built.
 * 2. The cache, `${XDG_CACHE_HOME:-~/.cache}/kubereflect/controlplane/`,
 *    keyed by the pinned versions and a hash of go.mod/go.sum.
 * 3. A build from the Go module that pins them (`controlplane/go.mod`: the
 *    default plane; `controlplane/compat/<name>/`: older releases,
 *    `KUBEREFLECT_CONTROLPLANE=<name>`), when Go is installed; cached as in 2.
 *
 * Otherwise a `ControlPlaneBinariesError` says each way to get them.
 * `controlplane/pin.sh` writes a module for another release.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Thrown when the binaries cannot be found or built; the message says each way to get them. */
export class ControlPlaneBinariesError extends Error {
  override name = 'ControlPlaneBinariesError';
}

const controlPlaneDir = join(dirname(fileURLToPath(import.meta.url)), 'controlplane');

/** The control plane a process uses: `default`, or a folder name under `compat/` given by KUBEREFLECT_CONTROLPLANE. */
export const planeName = selectPlane(process.env.KUBEREFLECT_CONTROLPLANE);
/** The Go module that pins the selected plane. */
export const moduleDir = planeName === 'default' ? controlPlaneDir : join(controlPlaneDir, 'compat', planeName);

function selectPlane(requested: string | undefined): string {
  if (!requested || requested === 'default') return 'default';
  const name = requested.startsWith('v') ? requested : `v${requested}`;
  if (!/^v\d+\.\d+$/.test(name) || !existsSync(join(controlPlaneDir, 'compat', name, 'go.mod'))) {
    let known: string[] = [];
    try {
      known = readdirSync(join(controlPlaneDir, 'compat'));
    } catch {
      /* none */
    }
    throw new ControlPlaneBinariesError(`KUBEREFLECT_CONTROLPLANE=${requested}: no such control plane (known: default${known.map((k) => `, ${k}`).join('')})`);
  }
  return name;
}

/** Versions pinned by go.mod. */
export interface PinnedVersions {
  kubernetes: string;
  etcd: string;
}

export interface Binaries {
  dir: string;
  kubeApiserver: string;
  etcd: string;
  versions: PinnedVersions;
}

export function pinnedVersions(goMod = readFileSync(join(moduleDir, 'go.mod'), 'utf8')): PinnedVersions {
  const kubernetes = /^\s*k8s\.io\/kubernetes\s+(v\S+)/m.exec(goMod)?.[1];
  const etcd = /^\s*go\.etcd\.io\/etcd\/server\/v3\s+(v\S+)/m.exec(goMod)?.[1];
  if (!kubernetes || !etcd) {
    throw new ControlPlaneBinariesError(`${join(moduleDir, 'go.mod')} must require k8s.io/kubernetes and go.etcd.io/etcd/server/v3`);
  }
  return { kubernetes, etcd };
}

/** `${XDG_CACHE_HOME:-~/.cache}/kubereflect/controlplane/<k8s>-etcd-<etcd>-<hash>` */
export function binaryDir(): string {
  const goMod = readFileSync(join(moduleDir, 'go.mod'), 'utf8');
  const goSum = existsSync(join(moduleDir, 'go.sum')) ? readFileSync(join(moduleDir, 'go.sum'), 'utf8') : '';
  const { kubernetes, etcd } = pinnedVersions(goMod);
  // Comments do not change what is built.
  const requirements = goMod
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('//'))
    .join('\n');
  const hash = createHash('sha256').update(requirements).update('\0').update(goSum).digest('hex').slice(0, 12);
  const cacheHome = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cacheHome, 'kubereflect', 'controlplane', `${kubernetes}-etcd-${etcd}-${hash}`);
}

function goAvailable(): string | undefined {
  const r = spawnSync('go', ['version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/**
 * The binaries to run: those of `assets` (default `$KUBEBUILDER_ASSETS`) if
 * set — which must hold both, else a `ControlPlaneBinariesError` naming what
 * is missing — else `ensureBinaries()`'s (cached, or built with Go).
 */
export async function findBinaries(opts: { assets?: string; log?: (line: string) => void } = {}): Promise<Binaries> {
  const assets = opts.assets ?? process.env.KUBEBUILDER_ASSETS;
  if (assets) {
    const missing = ['kube-apiserver', 'etcd'].filter((bin) => !executable(join(assets, bin)));
    if (missing.length > 0)
      throw new ControlPlaneBinariesError(
        `${opts.assets ? 'assets' : 'KUBEBUILDER_ASSETS'}=${assets} has no ${missing.join(' and no ')} (an executable file): point it at the folder setup-envtest prints (\`setup-envtest use -p path\`), or unset it to use the cache or build with Go`,
      );
    return { dir: assets, kubeApiserver: join(assets, 'kube-apiserver'), etcd: join(assets, 'etcd'), versions: assetVersions(assets) };
  }
  return ensureBinaries(opts.log);
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The versions of binaries from a setup-envtest folder: its name says the Kubernetes release (`1.37.2-linux-amd64`); etcd's is not known. */
function assetVersions(dir: string): PinnedVersions {
  const m = /(\d+\.\d+\.\d+)/.exec(basename(dir));
  return { kubernetes: m ? `v${m[1]}` : 'unknown', etcd: 'unknown' };
}

/**
 * Returns the cached binaries, building them first when the pinned versions
 * changed or nothing is cached yet. `log` receives progress lines.
 */
export async function ensureBinaries(log: (line: string) => void = (l) => console.error(l)): Promise<Binaries> {
  const dir = binaryDir();
  const versions = pinnedVersions();
  const result: Binaries = { dir, kubeApiserver: join(dir, 'kube-apiserver'), etcd: join(dir, 'etcd'), versions };
  if (existsSync(join(dir, 'build.json'))) return result;

  const go = goAvailable();
  if (!go) {
    throw new ControlPlaneBinariesError(
      `no kube-apiserver and etcd ${versions.kubernetes} here, and Go is not installed to build them. Any of these gives them:\n` +
        '  - KUBEBUILDER_ASSETS=<a folder with kube-apiserver and etcd>, e.g. what `setup-envtest use -p path` prints\n' +
        `  - Go 1.25 or newer on the PATH: they are built once from ${join(moduleDir, 'go.mod')} and cached in ${dir}\n` +
        `  - the two binaries copied into ${dir} (with a build.json)`,
    );
  }
  log(`building kube-apiserver ${versions.kubernetes} and etcd ${versions.etcd} with ${go} (first time only, a few minutes)`);
  const started = Date.now();
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const minor = /^v1\.(\d+)\./.exec(versions.kubernetes)?.[1] ?? '';
  const ldflags = [
    '-s -w',
    `-X k8s.io/component-base/version.gitVersion=${versions.kubernetes}`,
    `-X k8s.io/component-base/version.gitMajor=1`,
    `-X k8s.io/component-base/version.gitMinor=${minor}`,
    `-X k8s.io/component-base/version.gitTreeState=clean`,
  ].join(' ');
  await goBuild(['-o', join(tmp, 'etcd'), 'go.etcd.io/etcd/server/v3'], 'etcd', log);
  await goBuild(['-ldflags', ldflags, '-o', join(tmp, 'kube-apiserver'), 'k8s.io/kubernetes/cmd/kube-apiserver'], 'kube-apiserver', log);
  writeFileSync(join(tmp, 'build.json'), JSON.stringify({ ...versions, go, builtAt: new Date().toISOString() }, null, 2));
  mkdirSync(dirname(dir), { recursive: true });
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  log(`built in ${((Date.now() - started) / 1000).toFixed(0)} s: ${dir}`);
  return result;
}

/** Runs `go build -v`, summarising its package lines as periodic progress. */
function goBuild(args: string[], what: string, log: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('go', ['build', '-v', ...args], {
      cwd: moduleDir,
      env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=readonly' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let packages = 0;
    let downloads = 0;
    const tail: string[] = [];
    const timer = setInterval(() => log(`  ${what}: ${downloads} modules downloaded, ${packages} packages compiled`), 15_000);
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('go: downloading')) downloads++;
        else if (/^[\w.-]+(\/[\w.~-]+)+$/.test(line) || /^[\w-]+$/.test(line)) packages++;
        tail.push(line);
        if (tail.length > 40) tail.shift();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (err) => {
      clearInterval(timer);
      reject(new ControlPlaneBinariesError(`could not run go: ${err.message}`));
    });
    child.on('close', (code) => {
      clearInterval(timer);
      if (code === 0) {
        log(`  ${what}: done (${packages} packages)`);
        resolve();
      } else {
        reject(new ControlPlaneBinariesError(`go build of ${what} failed (exit ${code}):\n${tail.join('\n')}`));
      }
    });
  });
}
