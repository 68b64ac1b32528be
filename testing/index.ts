/**
 * `kubereflect-testing`: test an operator against a real kube-apiserver and
 * etcd started on loopback, with faults on demand — what kubereflect's own
 * tests run on.
 *
 * ```ts
 * const plane = await startControlPlane();            // binaries: KUBEBUILDER_ASSETS, the cache, or built with Go
 * const client = plane.client();                      // admin; plane.client('viewer') is restricted
 * await installCrds(client, ['crds/backup.yaml']);    // applied and established
 * const proxy = await plane.proxy();                  // a fault proxy in front of the apiserver
 * const viaProxy = proxy.client();                    // … run the operator through it, then:
 * proxy.cutAll();                                     // cut every open connection
 * await converged(cache.reader, Backup.api(client, ns));
 * await plane.stop();
 * ```
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { applyManifests, Client, type KubeObject, type ListWatch, type Store } from 'kubereflect';
import { parseAllDocuments } from 'yaml';
import { readFileSync } from 'node:fs';
import { findBinaries } from './binaries.ts';
import { converges, describeInvariant, type InvariantResult } from './converged.ts';
import { featureGates, launchPlane, type PlaneState, processAlive, stopPlane } from './launch.ts';
import { FaultProxy } from './proxy.ts';

export { ControlPlaneBinariesError } from './binaries.ts';
export type { Fault, ProxiedRequest, Rule } from './proxy.ts';
export { FaultProxy } from './proxy.ts';
export type { InvariantResult } from './converged.ts';

/** Options of `startControlPlane`. */
export interface ControlPlaneOptions {
  /** A folder holding `kube-apiserver` and `etcd` (default `$KUBEBUILDER_ASSETS`; unset: the cache, or a build with Go). */
  assets?: string;
  /** kube-apiserver feature gates, `Name=true,Other=false`. */
  featureGates?: string;
  /** More kube-apiserver flags. */
  apiserverArgs?: readonly string[];
  /** Progress lines: the build, the start-up time (default: stderr). */
  log?: (line: string) => void;
}

/** A running control plane. */
export interface ControlPlane {
  /** A kubeconfig file with contexts `admin` (current), `viewer` (may only get, list and watch pods in `team-a`) and `cert-admin`. */
  readonly kubeconfig: string;
  /** The apiserver's URL (`https://127.0.0.1:<port>`). */
  readonly server: string;
  /** The apiserver's version (`v1.37.2`), or `unknown` for binaries whose folder does not name it. */
  readonly version: string;
  /** A client of the plane as `context` (default `admin`); closed by `stop()`. */
  client(context?: 'admin' | 'viewer' | 'cert-admin'): Client;
  /** A fault proxy in front of the apiserver (see `FaultProxy`); closed by `stop()`. */
  proxy(): Promise<PlaneProxy>;
  /** Stops the apiserver and etcd and removes their data; also done when the process exits. */
  stop(): Promise<void>;
}

/** A fault proxy started by `ControlPlane.proxy()`. */
export interface PlaneProxy extends FaultProxy {
  /** A kubeconfig like the plane's, pointing at the proxy. */
  readonly proxiedKubeconfig: string;
  /** A client of the plane through the proxy as `context` (default `admin`). */
  client(context?: 'admin' | 'viewer' | 'cert-admin'): Client;
}

const running = new Set<PlaneState>();
let exitHook = false;

/**
 * Starts etcd and kube-apiserver on free loopback ports, in a temporary
 * folder, and resolves once the apiserver is ready (a few seconds; the
 * time is logged). Stop it with `stop()`; a process that exits without
 * stopping it kills it on the way out.
 *
 * @example
 * const plane = await startControlPlane();
 * try {
 *   const client = plane.client();
 *   // …
 * } finally {
 *   await plane.stop();
 * }
 */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = opts.log ?? ((line: string) => console.error(`kubereflect-testing: ${line}`));
  const bins = await findBinaries({ ...(opts.assets ? { assets: opts.assets } : {}), log });
  const dir = mkdtempSync(join(tmpdir(), 'kubereflect-plane-'));
  const state = await launchPlane(bins, dir, {
    featureGates: featureGates(opts.featureGates ?? ''),
    ...(opts.apiserverArgs ? { apiserverArgs: opts.apiserverArgs } : {}),
    log,
  });
  running.add(state);
  if (!exitHook) {
    exitHook = true;
    // Synchronous on exit: nothing may be awaited there.
    process.once('exit', () => {
      for (const s of running) for (const p of [s.apiserver, s.etcd]) if (processAlive(p)) process.kill(p.pid, 'SIGKILL');
    });
  }
  const clients: Client[] = [];
  const proxies: FaultProxy[] = [];
  const clientOf = (kubeconfig: string, context = 'admin') => {
    const c = Client.fromFile(kubeconfig, { context });
    clients.push(c);
    return c;
  };
  let stopped: Promise<void> | undefined;
  return {
    kubeconfig: state.kubeconfig,
    server: state.apiserverUrl,
    version: state.version,
    client: (context) => clientOf(state.kubeconfig, context),
    async proxy() {
      const proxy = await FaultProxy.start({ upstreamPort: state.apiserverPort, pkiDir: join(dir, 'pki') });
      proxies.push(proxy);
      const proxiedKubeconfig = proxy.kubeconfig(state.kubeconfig);
      return Object.assign(proxy, { proxiedKubeconfig, client: (context?: string) => clientOf(proxiedKubeconfig, context) }) as PlaneProxy;
    },
    stop() {
      stopped ??= (async () => {
        for (const c of clients) c.close();
        for (const p of proxies) await p.close();
        await stopPlane(state);
        running.delete(state);
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/**
 * Applies the CustomResourceDefinitions (and whatever else) in `files`
 * (YAML, several documents each) by server-side apply, and resolves once
 * every CRD among them is established and its kind served.
 *
 * @example
 * await installCrds(client, ['crds/backup.yaml']);
 */
export async function installCrds(client: Client, files: readonly string[], opts: { timeoutMs?: number } = {}): Promise<void> {
  const objects = files.flatMap((f) => parseAllDocuments(readFileSync(f, 'utf8')).map((d) => d.toJS() as KubeObject)).filter(Boolean);
  await applyManifests(client, objects, { fieldManager: 'kubereflect-testing' });
  for (const crd of objects.filter((o) => o.kind === 'CustomResourceDefinition')) {
    const name = crd.metadata?.name ?? '';
    await waitFor(
      `CustomResourceDefinition ${name} to be established`,
      async () => {
        const got = await client.request<{ status?: { conditions?: { type: string; status: string }[] } }>({
          path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${encodeURIComponent(name)}`,
        });
        return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
      },
      { timeoutMs: opts.timeoutMs ?? 30_000 },
    );
  }
}

/**
 * Creates a namespace with a random suffix (`prefix-1a2b3c4d`) and returns
 * its name: one per test keeps tests apart. (Namespaces are not deleted:
 * without a controller-manager their deletion never finishes; the plane's
 * `stop()` removes everything.)
 */
export async function freshNamespace(client: Client, prefix = 'test'): Promise<string> {
  const name = `${prefix}-${Math.random().toString(16).slice(2, 10)}`;
  await client.request({ method: 'POST', path: '/api/v1/namespaces', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
  return name;
}

/** `waitFor` gave up: the message says what was waited for, how long, and the last value or error seen. */
export class WaitTimeoutError extends Error {
  override name = 'WaitTimeoutError';
}

/**
 * Polls `check` until it returns something other than `undefined` or
 * `false`, and resolves with that; rejects with a `WaitTimeoutError`
 * naming `what` after `timeoutMs` (default 30 s). A `check` that throws is
 * tried again; its last error is in the message.
 *
 * @example
 * const cm = await waitFor('the owned ConfigMap', () => configMaps.getIfExists('nightly-plan'));
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new WaitTimeoutError(
        `timed out after ${timeoutMs} ms waiting for ${what}; last ${last instanceof Error ? `error: ${last.message}` : `value: ${JSON.stringify(last)}`}`,
      );
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}

/**
 * Resolves once `reader` holds exactly what a quorum list of `api` returns
 * (same names, uids and resourceVersions); rejects with a readable
 * difference (missing, left behind, stale, with examples) after `timeoutMs`
 * (default 20 s). The check kubereflect's own fault tests end with.
 *
 * @example
 * proxy.cutAll();
 * await converged(cache.reader, Backup.api(client, ns));
 */
export async function converged<K extends KubeObject>(reader: Store<K>, api: ListWatch<K>, opts: { timeoutMs?: number } = {}): Promise<InvariantResult> {
  const result = await converges(reader, api, opts.timeoutMs ?? 20_000);
  if (!result.ok) throw new WaitTimeoutError(`the cache did not converge to the server's list: ${describeInvariant(result)}`);
  return result;
}

/** Options of `generateKinds`. */
export interface GenerateKindsOptions {
  /** Where the modules go (`--out`). */
  out: string;
  /** CRD files, folders or globs (`--crd`). */
  crd?: readonly string[];
  /** Saved OpenAPI documents (`--openapi`). */
  openapi?: readonly string[];
  /** Type-check the output before writing it (default false here: the test's own compile checks it). */
  typecheck?: boolean;
  /** The project folder, where `kubereflect-generator` is installed (default the current directory). */
  cwd?: string;
  /** The `kubereflect` command to run instead of the installed generator's. */
  bin?: string;
}

/**
 * Generates the typed kinds of a test's CRDs with the installed
 * `kubereflect-generator` (its `kubereflect generate`), e.g. in a
 * `globalSetup`, so the test imports kinds made from the same files it
 * installs. Rejects with the command's own message when it fails.
 *
 * @example
 * await generateKinds({ crd: ['crds'], out: 'test/kube' });
 */
export function generateKinds(opts: GenerateKindsOptions): Promise<void> {
  const cwd = resolve(opts.cwd ?? process.cwd());
  let bin = opts.bin;
  if (!bin) {
    try {
      bin = join(dirname(createRequire(join(cwd, 'package.json')).resolve('kubereflect-generator/package.json')), 'bin', 'kubereflect.mjs');
    } catch {
      return Promise.reject(new Error(`generateKinds: kubereflect-generator is not installed in ${cwd} (npm install --save-dev kubereflect-generator)`));
    }
  }
  const args = [
    bin,
    'generate',
    '--out',
    opts.out,
    '--quiet',
    ...(opts.crd ?? []).flatMap((c) => ['--crd', c]),
    ...(opts.openapi ?? []).flatMap((o) => ['--openapi', o]),
  ];
  if (!opts.typecheck) args.push('--no-typecheck');
  return new Promise((done, fail) =>
    execFile(process.execPath, args, { cwd, encoding: 'utf8' }, (err, _stdout, stderr) =>
      err ? fail(new Error(`generateKinds: kubereflect generate failed: ${stderr.trim() || err.message}`)) : done(),
    ),
  );
}
