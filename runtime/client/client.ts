/**
 * The HTTP client every `Api` uses. Authentication and TLS come from a
 * kubeconfig (`credentials.ts`: `@kubernetes/client-node`'s `KubeConfig` for
 * tokens, token files, client certificates, in-cluster config and proxies;
 * exec plugins run there within each request's bounds; https and plain-http
 * servers); the requests themselves go through Node's `https` or `http` with
 * keep-alive connection pools per client. Every request can be aborted, and
 * its timeout covers obtaining credentials too; failures are typed
 * (`ApiError`, `TransportError`, `RequestTimeoutError`, `DecodeError`,
 * `RequestAbortedError`) and never carry credentials.
 */
import { isUtf8 } from 'node:buffer';
import * as http from 'node:http';
import * as https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { sleep } from '../core/backoff.ts';
import { RequestAbortedError, ApiError, DecodeError, KubeError, RequestTimeoutError, TransportError, type Status } from '../core/errors.ts';
import { Credentials, type Prepared } from './credentials.ts';

/** Query parameters; `undefined` values are left out. */
export type RequestQuery = Record<string, string | number | boolean | undefined>;

/** One request. */
export interface RequestOptions {
  method?: string;
  /** Absolute path on the server, e.g. `/api/v1/namespaces/default/pods`. */
  path: string;
  query?: RequestQuery;
  /** A JSON body, serialised with `JSON.stringify`. */
  body?: unknown;
  /** Content type of the body (default `application/json`). */
  contentType?: string;
  /** Accept header (default `application/json`). */
  accept?: string;
  signal?: AbortSignal;
  /** Time allowed for the whole request, obtaining credentials included; default `ClientOptions.requestTimeoutMs`. */
  timeoutMs?: number;
  /** Turns the body (checked to be UTF-8) into the result; default `JSON.parse` of its text. Its errors become `DecodeError`s. */
  parse?: (body: Buffer) => unknown;
}

/** A streaming request: the response body is delivered chunk by chunk. */
export interface StreamOptions extends Omit<RequestOptions, 'timeoutMs'> {
  /**
   * The stream fails with `RequestTimeoutError` when no bytes arrive for this
   * long; it also bounds the start: obtaining credentials and the wait for
   * the response headers together (without it, `ClientOptions.requestTimeoutMs`
   * bounds the credentials).
   */
  idleTimeoutMs?: number;
}

/** Tuning of a `Client`; every field has a default. */
export interface ClientOptions {
  /** Default time allowed for a non-streaming request, obtaining credentials included (default 60 s). */
  requestTimeoutMs?: number;
  /** How many times a request answered 429 is retried after its `Retry-After` (default 3). */
  maxRetriesOn429?: number;
  /** Longest `Retry-After` honoured by waiting inside the client, seconds (default 60); longer ones are returned as errors. */
  maxRetryAfterSeconds?: number;
  /**
   * Maximum sockets for ordinary requests (default 32). Streams (watches)
   * are not counted: each holds its own connection for as long as it runs,
   * so a client serves any number of them — queued behind this limit, a
   * watch would never start.
   */
  maxSockets?: number;
}

interface Connection extends Prepared {
  transport: typeof https | typeof http;
}

/**
 * A connection to one cluster, built from a `KubeConfig`.
 *
 * The kubeconfig's server may be https (verified against the cluster's CA,
 * or the system's, unless it says `insecure-skip-tls-verify`) or plain http
 * (`kubectl proxy`; credentials then go only to a loopback host, unless the
 * cluster says `insecure-skip-tls-verify`). An exec credential plugin runs at
 * most once at a time for all requests, within the bounds of the requests
 * waiting for it, and is stopped when none waits any more.
 *
 * @example
 * const client = Client.fromDefault();            // ~/.kube/config, $KUBECONFIG or in-cluster
 * const pods = new Api<Pod>(client, podResource, 'default');
 */
export class Client {
  readonly kubeConfig: KubeConfig;
  private readonly opts: Required<ClientOptions>;
  /** Keep-alive agents for the current TLS settings: ordinary requests (bounded) and streams (unbounded). */
  private agents: { requests: http.Agent; streams: http.Agent } | undefined;
  private agentKey = '';
  private readonly credentials: Credentials;

  /** A client for the current context of `kubeConfig`. Prefer the static constructors. */
  constructor(kubeConfig: KubeConfig, opts: ClientOptions = {}) {
    this.kubeConfig = kubeConfig;
    if (!kubeConfig.getCurrentCluster()) throw new KubeconfigError(noClusterReason(kubeConfig, 'the kubeconfig'));
    this.credentials = new Credentials(kubeConfig);
    this.opts = {
      requestTimeoutMs: opts.requestTimeoutMs ?? 60_000,
      maxRetriesOn429: opts.maxRetriesOn429 ?? 3,
      maxRetryAfterSeconds: opts.maxRetryAfterSeconds ?? 60,
      maxSockets: opts.maxSockets ?? 32,
    };
  }

  /**
   * A client for `kubeConfig`, optionally switched to `context`. A context
   * the kubeconfig does not have, or one that selects no cluster, throws a
   * `KubeconfigError` naming it and the contexts there are.
   */
  static fromKubeConfig(kubeConfig: KubeConfig, opts: ClientOptions & { context?: string } = {}): Client {
    return Client.withContext(kubeConfig, opts, 'the kubeconfig');
  }

  /** A client from the default kubeconfig ($KUBECONFIG, ~/.kube/config, or in-cluster), optionally for `context`. */
  static fromDefault(opts: ClientOptions & { context?: string } = {}): Client {
    const kc = new KubeConfig();
    kc.loadFromDefault();
    const source = process.env.KUBECONFIG
      ? process.env.KUBECONFIG.split(delimiter).filter(Boolean).join(', ')
      : kc.getContexts().length
        ? join(homedir(), '.kube', 'config')
        : 'the in-cluster configuration ($KUBECONFIG is not set and ~/.kube/config has no contexts)';
    return Client.withContext(kc, opts, source);
  }

  /** A client from a kubeconfig file, optionally for `context`. */
  static fromFile(path: string, opts: ClientOptions & { context?: string } = {}): Client {
    const kc = new KubeConfig();
    kc.loadFromFile(path);
    return Client.withContext(kc, opts, path);
  }

  private static withContext(kubeConfig: KubeConfig, opts: ClientOptions & { context?: string }, source: string): Client {
    if (opts.context !== undefined) {
      if (!kubeConfig.getContextObject(opts.context)) {
        throw new KubeconfigError(`context ${JSON.stringify(opts.context)} not found in ${source}; ${contextList(kubeConfig)}`);
      }
      kubeConfig.setCurrentContext(opts.context);
    }
    if (!kubeConfig.getCurrentCluster()) throw new KubeconfigError(noClusterReason(kubeConfig, source));
    return new Client(kubeConfig, opts);
  }

  /** The server URL of the current cluster. */
  get server(): string {
    return this.kubeConfig.getCurrentCluster()!.server;
  }

  /** Closes the pooled connections. Requests still running are not affected. */
  close(): void {
    this.agents?.requests.destroy();
    this.agents?.streams.destroy();
    this.agents = undefined;
  }

  /**
   * Sends a request and parses the JSON response. Retries 429 answers after
   * their `Retry-After` (up to `maxRetriesOn429` times).
   * @throws ApiError for a non-2xx answer, TransportError, RequestTimeoutError, DecodeError, RequestAbortedError.
   */
  async request<T>(req: RequestOptions): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.requestOnce<T>(req);
      } catch (err) {
        if (!(err instanceof ApiError) || err.statusCode !== 429 || attempt >= this.opts.maxRetriesOn429) throw err;
        const wait = err.retryAfterSeconds ?? 1;
        if (wait > this.opts.maxRetryAfterSeconds) throw err;
        await sleep(wait * 1000, req.signal);
        if (req.signal?.aborted) throw new RequestAbortedError(`${describe(req)}: aborted`);
      }
    }
  }

  /**
   * Starts a streaming request. Resolves once the response headers arrive
   * with a 2xx status, to an iterable of body chunks; ending the iteration
   * early closes the connection.
   * @throws ApiError for a non-2xx answer (with the body's `Status`).
   */
  async stream(req: StreamOptions): Promise<AsyncIterable<Buffer>> {
    // The idle limit also bounds the start: credentials, then the response headers (a connection can stall before them too).
    const started = performance.now();
    const conn = await this.connection(describe(req), 'streams', req.idleTimeoutMs ?? this.opts.requestTimeoutMs, req.signal);
    const headers = req.idleTimeoutMs === undefined ? undefined : { ms: req.idleTimeoutMs, left: req.idleTimeoutMs - (performance.now() - started) };
    const { res, request } = await this.send(conn, req, headers);
    if (!isSuccess(res.statusCode)) {
      const body = await readBody(res, request, req.signal);
      if (res.statusCode === 401) this.credentials.refused(conn);
      throw apiError(request, res, body);
    }
    return chunksOf(res, request, req.idleTimeoutMs, req.signal);
  }

  private async requestOnce<T>(req: RequestOptions): Promise<T> {
    const timeoutMs = req.timeoutMs ?? this.opts.requestTimeoutMs;
    const description = describe(req);
    const started = performance.now();
    const conn = await this.connection(description, 'requests', timeoutMs, req.signal);
    // What is left of the timeout after the credentials.
    const timeout = AbortSignal.timeout(Math.max(1, Math.ceil(timeoutMs - (performance.now() - started))));
    const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
    try {
      const { res, request } = await this.send(conn, { ...req, signal });
      const body = await readBody(res, request, signal);
      if (res.statusCode === 401) this.credentials.refused(conn);
      if (!isSuccess(res.statusCode)) throw apiError(request, res, body);
      // Decoding would quietly turn invalid bytes into U+FFFD, and a wrong object into the cache; watch lines are refused the same way.
      if (!isUtf8(body)) throw new DecodeError(request, 'response is not valid UTF-8', body.toString('latin1'));
      try {
        return (req.parse ? req.parse(body) : JSON.parse(body.toString('utf8'))) as T;
      } catch (err) {
        throw new DecodeError(request, 'response is not JSON', body.toString('utf8'), err);
      }
    } catch (err) {
      if (timeout.aborted && !req.signal?.aborted) throw new RequestTimeoutError(description, timeoutMs);
      throw err;
    }
  }

  /** Sends `req` on `conn`; `headers`: fail when the response headers have not come within `left` ms (reported as `ms`). */
  private async send(conn: Connection, req: RequestOptions, headers?: { ms: number; left: number }): Promise<{ res: http.IncomingMessage; request: string }> {
    const request = describe(req);
    if (req.signal?.aborted) throw new RequestAbortedError(`${request}: aborted`);
    const url = new URL(req.path, conn.base);
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body), 'utf8');
    const outgoing: http.OutgoingHttpHeaders = {
      ...(conn.options.headers as http.OutgoingHttpHeaders),
      accept: req.accept ?? 'application/json',
      'user-agent': 'kubereflect',
    };
    if (payload) {
      outgoing['content-type'] = req.contentType ?? 'application/json';
      outgoing['content-length'] = payload.length;
    }
    return new Promise((resolve, reject) => {
      let r: http.ClientRequest;
      try {
        r = conn.transport.request(url, { ...conn.options, method: req.method ?? 'GET', headers: outgoing, signal: req.signal });
      } catch (err) {
        reject(new TransportError(request, err));
        return;
      }
      const stalled =
        headers === undefined
          ? undefined
          : setTimeout(() => r.destroy(new RequestTimeoutError(request, headers.ms, 'no response headers')), Math.max(1, Math.ceil(headers.left)));
      r.on('response', (res) => {
        clearTimeout(stalled);
        resolve({ res, request });
      });
      r.on('error', (err) => {
        clearTimeout(stalled);
        if (req.signal?.aborted) reject(new RequestAbortedError(`${request}: aborted`));
        else reject(err instanceof KubeError ? err : new TransportError(request, err));
      });
      r.end(payload);
    });
  }

  /**
   * TLS, auth headers and the agent of `pool` for the next request (auth may
   * have been refreshed), obtained within `timeoutMs` and `signal`.
   */
  private async connection(request: string, pool: 'requests' | 'streams', timeoutMs: number, signal?: AbortSignal): Promise<Connection> {
    const prepared = await this.credentials.forRequest(request, timeoutMs, signal);
    const transport = prepared.base.protocol === 'http:' ? http : https;
    if (!this.kubeConfig.getCurrentCluster()!.proxyUrl) prepared.options.agent = this.pooledAgents(prepared.options, transport)[pool];
    return { ...prepared, transport };
  }

  private pooledAgents(o: https.RequestOptions, transport: typeof https | typeof http): { requests: http.Agent; streams: http.Agent } {
    const key = [transport === https ? 'https' : 'http', o.ca, o.cert, o.key, o.pfx, o.passphrase, o.rejectUnauthorized, o.servername]
      .map((v) => (Buffer.isBuffer(v) ? v.toString('base64') : String(v)))
      .join('|');
    if (!this.agents || key !== this.agentKey) {
      this.agents?.requests.destroy();
      this.agents?.streams.destroy();
      const tls: https.AgentOptions = { keepAlive: true, scheduling: 'lifo' };
      for (const k of ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const) {
        if (o[k] !== undefined) (tls as Record<string, unknown>)[k] = o[k];
      }
      const agent = (maxSockets: number) => (transport === https ? new https.Agent({ ...tls, maxSockets }) : new http.Agent({ ...tls, maxSockets }));
      this.agents = { requests: agent(this.opts.maxSockets), streams: agent(Infinity) };
      this.agentKey = key;
    }
    return this.agents;
  }
}

function isSuccess(code: number | undefined): boolean {
  return code !== undefined && code >= 200 && code < 300;
}

/** `GET /api/v1/pods?limit=500`, with continue tokens shortened: they are long and opaque. */
/** A kubeconfig selects no cluster (a context it lacks, a missing current-context, a context naming no cluster it defines). */
export class KubeconfigError extends KubeError {
  override name = 'KubeconfigError';
  override readonly code = 'ERR_KUBE_KUBECONFIG';
}

/** `contexts: a, b` (sorted), or that there are none: names only, never a server or a credential. */
function contextList(kc: KubeConfig): string {
  const names = kc
    .getContexts()
    .map((c) => c.name)
    .sort();
  return names.length ? `contexts: ${names.join(', ')}` : 'it has no contexts';
}

/** Why `kc` has no current cluster, in words a user can act on. */
function noClusterReason(kc: KubeConfig, source: string): string {
  const current = kc.getCurrentContext();
  if (!current) return `${source} has no current-context: pass a context (${contextList(kc)})`;
  const context = kc.getContextObject(current);
  if (!context) return `current-context ${JSON.stringify(current)} not found in ${source}; ${contextList(kc)}`;
  const clusters = kc
    .getClusters()
    .map((c) => c.name)
    .sort();
  return `context ${JSON.stringify(current)} names cluster ${JSON.stringify(context.cluster)}, which ${source} does not define${clusters.length ? `; clusters: ${clusters.join(', ')}` : ''}`;
}

export function describe(req: Pick<RequestOptions, 'method' | 'path' | 'query'>): string {
  const q = Object.entries(req.query ?? {})
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${k === 'continue' ? '…' : encodeURIComponent(String(v))}`)
    .join('&');
  return `${req.method ?? 'GET'} ${req.path}${q ? `?${q}` : ''}`;
}

function apiError(request: string, res: http.IncomingMessage, body: Buffer): ApiError {
  let status: Status | undefined;
  try {
    const parsed = JSON.parse(body.toString('utf8')) as Status;
    if (parsed && parsed.kind === 'Status') status = parsed;
  } catch {
    /* not a Status: described below */
  }
  status ??= { kind: 'Status', status: 'Failure', code: res.statusCode, message: `${res.statusMessage ?? ''} ${body.toString('utf8', 0, 200)}`.trim() };
  return new ApiError(request, status, { code: res.statusCode ?? 0, retryAfterSeconds: retryAfter(res.headers['retry-after']) });
}

function retryAfter(header: string | undefined): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

async function readBody(res: http.IncomingMessage, request: string, signal?: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of res) chunks.push(chunk as Buffer);
  } catch (err) {
    if (signal?.aborted) throw new RequestAbortedError(`${request}: aborted`);
    throw new TransportError(request, err);
  }
  return Buffer.concat(chunks);
}

async function* chunksOf(res: http.IncomingMessage, request: string, idleTimeoutMs?: number, signal?: AbortSignal): AsyncGenerator<Buffer> {
  let idle = false;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    if (idleTimeoutMs === undefined) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      idle = true;
      res.destroy();
    }, idleTimeoutMs);
  };
  arm();
  try {
    for await (const chunk of res) {
      arm();
      yield chunk as Buffer;
    }
    if (idle) throw new RequestTimeoutError(request, idleTimeoutMs!, 'no data');
    if (!res.complete) throw new TransportError(request, new Error('connection closed before the response was complete'));
  } catch (err) {
    if (err instanceof KubeError) throw err;
    if (idle) throw new RequestTimeoutError(request, idleTimeoutMs!, 'no data');
    if (signal?.aborted) throw new RequestAbortedError(`${request}: aborted`);
    throw new TransportError(request, err);
  } finally {
    clearTimeout(timer);
    if (!res.complete) res.destroy();
  }
}
