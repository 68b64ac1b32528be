/**
 * What a request to the current cluster of a `KubeConfig` carries: TLS
 * settings and credentials, obtained within the request's own bounds.
 *
 * `@kubernetes/client-node`'s `KubeConfig` supplies TLS, tokens, token files,
 * client certificates, basic auth and auth providers. Two things it does in a
 * way a long-running client cannot live with are done here instead:
 *
 * - **Exec credential plugins** run here, bounded by the request that needs
 *   them (its timeout and its signal), one run at a time shared by every
 *   request waiting for it, and stopped once no request waits any more. The
 *   credential is kept until its `expirationTimestamp`, or until the server
 *   refuses it with a 401.
 * - **Plain-http servers** (`kubectl proxy`): `KubeConfig` refuses them unless
 *   the cluster says `insecure-skip-tls-verify`, because it would have to
 *   build an agent. There is no TLS to set up, so the options are taken from
 *   a view of the cluster that says so; https servers are untouched.
 *   Credentials go over plain http only to a loopback host, unless the cluster
 *   says `insecure-skip-tls-verify` (it already declares the connection insecure).
 *
 * Messages never carry a credential: a plugin's output is never quoted.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type * as https from 'node:https';
import { BlockList } from 'node:net';
import { type Cluster, KubeConfig, type User } from '@kubernetes/client-node';
import { KubeError, RequestAbortedError, RequestTimeoutError } from '../core/errors.ts';

/** What `Credentials.forRequest` hands the client. */
export interface Prepared {
  /** The server, ending in `/`. */
  base: URL;
  /** TLS settings and headers (`Authorization`, `Impersonate-User`), `auth` for basic auth, and the proxy agent when the cluster has a `proxyUrl`. */
  options: https.RequestOptions;
  /** The exec plugin's credential the request carries, to name in `refused()` after a 401. */
  credential?: ExecCredential;
}

/** The part of an exec plugin's `ExecCredential` the client uses. */
export interface ExecCredential {
  token?: string;
  clientCertificateData?: string;
  clientKeyData?: string;
  /** Milliseconds since the epoch; absent: valid until refused. */
  expiresAt?: number;
}

/** A user's `exec` stanza in a kubeconfig. */
interface ExecConfig {
  command?: string;
  args?: string[];
  env?: { name: string; value: string }[] | null;
  apiVersion?: string;
  provideClusterInfo?: boolean;
  installHint?: string;
}

/** After SIGTERM, how long a stopped plugin has before SIGKILL. */
const KILL_AFTER_MS = 2_000;

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** True for `localhost`, 127.0.0.0/8 and ::1 (a URL's `hostname`, brackets and all). No name is resolved. */
export function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (h === 'localhost') return true;
  try {
    return loopback.check(h, h.includes(':') ? 'ipv6' : 'ipv4');
  } catch {
    return false; // a name, not an address
  }
}

/** TLS settings and credentials for the current context of one `KubeConfig`. */
export class Credentials {
  private view: { cluster: Cluster; user: User | null; kc: KubeConfig } | undefined;
  private exec: { cluster: Cluster; user: User; plugin: ExecPlugin } | undefined;

  constructor(private readonly kubeConfig: KubeConfig) {}

  /**
   * The options for `request`. Waits at most `timeoutMs`, and until `signal`
   * aborts, for an exec plugin.
   * @throws RequestTimeoutError, RequestAbortedError while waiting for a plugin; KubeError when no credentials can be had or they would go in clear text.
   */
  async forRequest(request: string, timeoutMs: number, signal?: AbortSignal): Promise<Prepared> {
    const cluster = this.kubeConfig.getCurrentCluster()!;
    const user = this.kubeConfig.getCurrentUser();
    const base = new URL(cluster.server.endsWith('/') ? cluster.server : `${cluster.server}/`);
    const plain = base.protocol === 'http:';
    const fail = (reason: string) => new KubeError(`could not obtain credentials for ${cluster.server}: ${reason}`);
    const refusal = () =>
      new KubeError(
        `refusing to send credentials in clear text to ${cluster.server}, a host that is not loopback (use https, a user without credentials, or insecure-skip-tls-verify to allow it)`,
      );
    const clearTextAllowed = !plain || cluster.skipTLSVerify || (!cluster.proxyUrl && isLoopback(base.hostname));
    const exec = execConfigOf(user);
    if (exec && !clearTextAllowed) throw refusal();

    const options: https.RequestOptions = {};
    try {
      await this.viewOf(cluster, user).applyToHTTPSOptions(options);
    } catch (err) {
      // Messages of auth providers may echo what they read; keep the first line. A JSON syntax error quotes the text it parsed: never repeat it.
      throw fail(err instanceof SyntaxError ? 'a credential is not valid JSON' : firstLine(String((err as Error)?.message ?? err)));
    }
    let credential: ExecCredential | undefined;
    if (exec && user) {
      credential = await this.pluginOf(cluster, user, exec).get(request, timeoutMs, signal);
      if (credential.clientCertificateData) options.cert = credential.clientCertificateData;
      if (credential.clientKeyData) options.key = credential.clientKeyData;
      if (credential.token) options.headers = { ...options.headers, Authorization: `Bearer ${credential.token}` };
    }
    if (plain && !cluster.proxyUrl) {
      // No TLS on this connection: nothing of it applies (the view's insecure-skip-tls-verify least of all).
      for (const k of ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const) delete options[k];
    }
    const authorization = Object.keys(options.headers ?? {}).some((h) => h.toLowerCase() === 'authorization');
    if (!clearTextAllowed && (authorization || options.auth)) throw refusal();
    return { base, options, ...(credential ? { credential } : {}) };
  }

  /** The server refused `prepared`'s credential (401): the next request runs the plugin again, unless a fresher credential has come meanwhile. */
  refused(prepared: Prepared): void {
    if (prepared.credential) this.exec?.plugin.refused(prepared.credential);
  }

  /**
   * The `KubeConfig` asked for TLS and the static credentials: the current
   * cluster and user as one context, except that
   * - a plain-http cluster without a proxy says `insecure-skip-tls-verify`,
   *   the only way `KubeConfig` builds options for it (there is no TLS to
   *   skip; `forRequest` drops the TLS options afterwards);
   * - the user has no exec plugin: `pluginOf` runs it;
   * - a context without a user gets an empty one, so that the cluster's CA
   *   applies (`KubeConfig` skips all of TLS without a user).
   */
  private viewOf(cluster: Cluster, user: User | null): KubeConfig {
    if (this.view?.cluster === cluster && this.view.user === user) return this.view.kc;
    const plainDirect = new URL(cluster.server).protocol === 'http:' && !cluster.proxyUrl;
    const kc = new KubeConfig();
    kc.loadFromClusterAndUser(plainDirect ? { ...cluster, skipTLSVerify: true } : cluster, user ? withoutExec(user) : { name: 'no-user' });
    // Authenticators added with `addAuthenticator` apply to the view too (shared, so later additions do as well).
    const internals = (k: KubeConfig) => k as unknown as { custom_authenticators?: unknown[] };
    if (Array.isArray(internals(this.kubeConfig).custom_authenticators)) internals(kc).custom_authenticators = internals(this.kubeConfig).custom_authenticators;
    this.view = { cluster, user, kc };
    return kc;
  }

  private pluginOf(cluster: Cluster, user: User, config: ExecConfig): ExecPlugin {
    if (this.exec?.cluster !== cluster || this.exec.user !== user) this.exec = { cluster, user, plugin: new ExecPlugin(config, cluster) };
    return this.exec.plugin;
  }
}

/** The user's exec stanza: `exec`, or the legacy `auth-provider` with an `exec` config (as `KubeConfig` reads them). */
function execConfigOf(user: User | null): ExecConfig | undefined {
  return (user?.exec ?? user?.authProvider?.config?.exec ?? undefined) as ExecConfig | undefined;
}

function withoutExec(user: User): User {
  if (!execConfigOf(user) && user.authProvider?.name !== 'exec') return user;
  const legacyExec = user.authProvider?.name === 'exec' || user.authProvider?.config?.exec;
  return { ...user, exec: undefined, authProvider: legacyExec ? undefined : user.authProvider };
}

function firstLine(text: string): string {
  const line = text.trim().split('\n')[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

/** One run of a plugin and the requests waiting for it. */
interface Run {
  result: Promise<ExecCredential>;
  waiters: number;
  stop(): void;
}

/**
 * One user's exec plugin: its cached credential and at most one run in
 * flight. A run is shared by every request that needs a credential while it
 * runs; each waits within its own bounds, and the last to give up stops it.
 */
class ExecPlugin {
  private credential: ExecCredential | undefined;
  private run: Run | undefined;

  constructor(
    private readonly config: ExecConfig,
    private readonly cluster: Cluster,
  ) {}

  /** The cached credential while valid; otherwise the current run's (started if none), waited for at most `timeoutMs` and until `signal`. */
  get(request: string, timeoutMs: number, signal?: AbortSignal): Promise<ExecCredential> {
    const cached = this.credential;
    if (cached && (cached.expiresAt === undefined || cached.expiresAt > Date.now())) return Promise.resolve(cached);
    this.credential = undefined;
    if (signal?.aborted) return Promise.reject(new RequestAbortedError(`${request}: aborted`));
    this.run ??= this.start();
    const run = this.run;
    run.waiters++;
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = () => {
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        run.waiters--;
      };
      const leave = (err: Error) => {
        if (done) return;
        finish();
        reject(err);
        if (run.waiters === 0 && this.run === run) {
          this.run = undefined;
          run.stop();
        }
      };
      const onAbort = () => leave(new RequestAbortedError(`${request}: aborted`));
      const timer = setTimeout(() => leave(new RequestTimeoutError(request, timeoutMs, 'no credentials from the exec plugin')), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      run.result.then(
        (c) => done || (finish(), resolve(c)),
        (e: unknown) => done || (finish(), reject(e)),
      );
    });
  }

  refused(credential: ExecCredential): void {
    if (this.credential === credential) this.credential = undefined;
  }

  private start(): Run {
    const { command, args = [], env = [], installHint } = this.config;
    const fail = (reason: string) => new KubeError(`could not obtain credentials for ${this.cluster.server}: ${reason}`);
    let stopped = false;
    let stop = () => {
      stopped = true;
    };
    const result = new Promise<ExecCredential>((resolve, reject) => {
      if (!command) return reject(fail('the exec plugin has no command'));
      let child: ChildProcessWithoutNullStreams;
      try {
        child = spawn(command, args, {
          env: { ...process.env, ...Object.fromEntries((env ?? []).map((e) => [e.name, e.value])), KUBERNETES_EXEC_INFO: this.execInfo() },
          // No terminal and nothing to read: a plugin that would prompt gets end-of-file, not a wait.
          stdio: ['ignore', 'pipe', 'pipe'],
        }) as unknown as ChildProcessWithoutNullStreams;
      } catch (err) {
        return reject(fail(`the credential plugin ${command} could not be started: ${firstLine(String((err as Error)?.message ?? err))}`));
      }
      const stdout: Buffer[] = [];
      let stderr = '';
      let spawnError: NodeJS.ErrnoException | undefined;
      child.stdout.on('data', (b: Buffer) => stdout.push(b));
      child.stderr.on('data', (b: Buffer) => {
        if (stderr.length < 4096) stderr += b.toString('utf8');
      });
      child.on('error', (err) => {
        spawnError = err;
      });
      stop = () => {
        stopped = true;
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const kill = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
        kill.unref();
        child.once('exit', () => clearTimeout(kill));
      };
      child.on('close', (code, sig) => {
        if (this.run?.result === result) this.run = undefined;
        const plugin = `the credential plugin ${command}`;
        if (stopped) return reject(fail(`${plugin} was stopped: no request waits for it`));
        if (spawnError)
          return reject(fail(`${plugin} could not be started: ${spawnError.code ?? spawnError.message}${installHint ? ` (${firstLine(installHint)})` : ''}`));
        if (code !== 0) return reject(fail(`${plugin} exited ${sig ? `on ${sig}` : `with code ${code}`}${stderr.trim() ? `: ${firstLine(stderr)}` : ''}`));
        let parsed: { status?: Record<string, unknown> };
        try {
          parsed = JSON.parse(Buffer.concat(stdout).toString('utf8'));
        } catch {
          return reject(fail("the credential plugin's output is not valid JSON"));
        }
        const credential = credentialFrom(parsed);
        if (!credential) return reject(fail("the credential plugin's output is not an ExecCredential with a token or a client certificate and key"));
        this.credential = credential;
        resolve(credential);
      });
    });
    // Settled, the run is over: the next request without a valid credential starts another. Nobody may be listening: no unhandled rejection.
    const over = () => {
      if (this.run?.result === result) this.run = undefined;
    };
    result.then(over, over);
    return { result, waiters: 0, stop: () => stop() };
  }

  /** KUBERNETES_EXEC_INFO, as kubectl sets it: never interactive here; the cluster when the plugin asks for it. */
  private execInfo(): string {
    const c = this.cluster;
    const ca = c.caData ?? (c.caFile ? readFileSync(c.caFile).toString('base64') : undefined);
    const cluster = {
      server: c.server,
      ...(c.tlsServerName ? { 'tls-server-name': c.tlsServerName } : {}),
      ...(c.skipTLSVerify ? { 'insecure-skip-tls-verify': true } : {}),
      ...(ca ? { 'certificate-authority-data': ca } : {}),
      ...(c.proxyUrl ? { 'proxy-url': c.proxyUrl } : {}),
    };
    const spec = { interactive: false, ...(this.config.provideClusterInfo ? { cluster } : {}) };
    return JSON.stringify({ apiVersion: this.config.apiVersion ?? 'client.authentication.k8s.io/v1', kind: 'ExecCredential', spec });
  }
}

function credentialFrom(parsed: { status?: Record<string, unknown> } | null): ExecCredential | undefined {
  const s = parsed?.status;
  if (!s || typeof s !== 'object') return undefined;
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const token = str(s.token);
  const cert = str(s.clientCertificateData);
  const key = str(s.clientKeyData);
  if (!token && !(cert && key)) return undefined;
  const expires = str(s.expirationTimestamp);
  // A timestamp that does not parse counts as expired, as in `KubeConfig`: the next request asks again.
  const expiresAt = expires === undefined ? undefined : Date.parse(expires) || 0;
  return {
    ...(token ? { token } : {}),
    ...(cert && key ? { clientCertificateData: cert, clientKeyData: key } : {}),
    ...(expiresAt !== undefined ? { expiresAt } : {}),
  };
}
