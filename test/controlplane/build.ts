/**
 * Builds kube-apiserver and etcd from a Go module that pins them and caches
 * the binaries outside the work tree, keyed by the pinned versions and a hash
 * of go.mod/go.sum, so that a fresh clone on the same machine does not rebuild.
 * The module in this folder pins the default plane; `compat/<name>/` pins the
 * older releases the compatibility run uses (`KUBEREFLECT_CONTROLPLANE=<name>`).
 * `pin.sh` writes either.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Thrown when the binaries cannot be built; the message says what to do instead. */
export class ControlPlaneBuildError extends Error {
  override name = 'ControlPlaneBuildError';
}

const controlPlaneDir = dirname(fileURLToPath(import.meta.url));

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
    throw new ControlPlaneBuildError(`KUBEREFLECT_CONTROLPLANE=${requested}: no such control plane (known: default${known.map((k) => `, ${k}`).join('')})`);
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
    throw new ControlPlaneBuildError(`${join(moduleDir, 'go.mod')} must require k8s.io/kubernetes and go.etcd.io/etcd/server/v3`);
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
    throw new ControlPlaneBuildError(
      'Go is not installed: it is needed to build kube-apiserver and etcd from test/controlplane/go.mod.\n' +
        'Install Go 1.25 or newer, or run the tests against an existing cluster instead:\n' +
        '  KUBEREFLECT_TEST_KUBECONFIG=/path/to/kubeconfig npm test',
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
      reject(new ControlPlaneBuildError(`could not run go: ${err.message}`));
    });
    child.on('close', (code) => {
      clearInterval(timer);
      if (code === 0) {
        log(`  ${what}: done (${packages} packages)`);
        resolve();
      } else {
        reject(new ControlPlaneBuildError(`go build of ${what} failed (exit ${code}):\n${tail.join('\n')}`));
      }
    });
  });
}
