/**
 * An in-memory stand-in for the apiserver's Lease endpoints, for the unit
 * tests of leader election and the shard ring. A fake: both are pure logic
 * over Lease reads and writes and the passing of time, and their timing
 * guarantees are checked on a hand-moved clock, which a real server cannot
 * follow.
 *
 * What the protocols rely on behaves as the apiserver does: every write
 * bumps `resourceVersion`; a replace whose `resourceVersion` is not the
 * stored one gets 409 Conflict, and one without a `resourceVersion` is
 * refused (Leases allow no unconditional update); a create of an existing
 * name gets 409 AlreadyExists; a get or delete of a missing one 404 NotFound;
 * a replace of a missing Lease creates it, whatever `resourceVersion` it
 * carries (Leases allow create on update). Checked against kube-apiserver.
 * Errors are `ApiError`s carrying a `Status`, as the real client throws them.
 *
 * Each replica talks through its own `FakeLeaseClient`, which a test can
 * take down (requests fail at once), hang (requests wait until aborted) or
 * slow down, to cut one replica off while the others carry on.
 */
import { describe, type Client, type RequestOptions } from '../../runtime/client/client.ts';
import type { Clock } from '../../runtime/core/clock.ts';
import { RequestAbortedError, ApiError, TransportError, type Status } from '../../runtime/core/errors.ts';
import { parseLabelSelector } from '../../runtime/core/labels.ts';
import type { Lease } from '../../runtime/scale/lease.ts';

const COLLECTION = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/leases(?:\/([^/]+))?$/;

/** One request as the server saw it: who sent it, when (on the test's clock), and the answer's status code (200 for any success; 0 for none: the link was down or hung). */
export interface SeenRequest {
  client: string;
  method: string;
  name: string | undefined;
  at: number;
  code: number;
}

/** The Leases of every namespace, and every request made of them. */
export class FakeLeaseServer {
  private readonly leases = new Map<string, Lease>();
  private revision = 0;
  /** Every request, in the order they arrived. */
  readonly requests: SeenRequest[] = [];

  /** A server on `clock`, whose time stamps the request log and delays slow answers. */
  constructor(readonly clock: Clock) {}

  /** A client for one replica, named `name` in the request log. */
  client(name: string): FakeLeaseClient {
    return new FakeLeaseClient(this, name);
  }

  /** The stored Lease, as a copy (undefined when absent). */
  get(namespace: string, name: string): Lease | undefined {
    const lease = this.leases.get(`${namespace}/${name}`);
    return lease && structuredClone(lease);
  }

  /** All stored Leases of `namespace`, as copies, by name. */
  list(namespace: string): Lease[] {
    return [...this.leases.values()].filter((l) => l.metadata?.namespace === namespace).map((l) => structuredClone(l));
  }

  /** Stores `lease` as an outside writer would (a new resourceVersion; no concurrency check). */
  put(lease: Lease): Lease {
    return this.store(structuredClone(lease));
  }

  /** Removes a Lease as an outside writer would. */
  remove(namespace: string, name: string): void {
    this.leases.delete(`${namespace}/${name}`);
  }

  /** Answers `req` as the apiserver would, at once. @internal */
  handle(req: RequestOptions): unknown {
    const m = COLLECTION.exec(req.path);
    if (!m) return fail(req, 404, 'NotFound', `the fake serves Leases only, not ${req.path}`);
    const namespace = decodeURIComponent(m[1]!);
    const name = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
    const key = `${namespace}/${name}`;
    const method = req.method ?? 'GET';
    const stored = this.leases.get(key);
    const what = `leases.coordination.k8s.io "${name}"`;
    if (method === 'GET' && name === undefined) {
      const selector = parseLabelSelector(String(req.query?.labelSelector ?? ''));
      const items = this.list(namespace).filter((l) => selector.matches(l.metadata?.labels ?? {}));
      return { apiVersion: 'coordination.k8s.io/v1', kind: 'LeaseList', metadata: { resourceVersion: String(this.revision) }, items };
    }
    if (method === 'POST' && name === undefined) {
      const body = structuredClone(req.body as Lease);
      const bodyName = body.metadata?.name;
      if (!bodyName) return fail(req, 422, 'Invalid', 'leases.coordination.k8s.io is invalid: metadata.name: Required value');
      if (this.leases.has(`${namespace}/${bodyName}`)) return fail(req, 409, 'AlreadyExists', `leases.coordination.k8s.io "${bodyName}" already exists`);
      return this.store({ ...body, metadata: { ...body.metadata, namespace, uid: undefined, resourceVersion: undefined } });
    }
    if (name === undefined) return fail(req, 405, 'MethodNotAllowed', `${method} on the collection`);
    if (method === 'GET') return stored ? structuredClone(stored) : fail(req, 404, 'NotFound', `${what} not found`);
    if (method === 'DELETE') {
      if (!stored) return fail(req, 404, 'NotFound', `${what} not found`);
      this.leases.delete(key);
      return {
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Success',
        details: { name, group: 'coordination.k8s.io', kind: 'leases', uid: stored.metadata?.uid },
      };
    }
    if (method === 'PUT') {
      const body = structuredClone(req.body as Lease);
      if (body.metadata?.name !== name) return fail(req, 400, 'BadRequest', 'the name of the object does not match the name on the URL');
      if (!stored) return this.store({ ...body, metadata: { ...body.metadata, namespace, uid: undefined, resourceVersion: undefined } });
      const rv = body.metadata?.resourceVersion;
      if (!rv) return fail(req, 422, 'Invalid', `${what} is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update`);
      if (rv !== stored.metadata?.resourceVersion) {
        return fail(
          req,
          409,
          'Conflict',
          `Operation cannot be fulfilled on ${what}: the object has been modified; please apply your changes to the latest version and try again`,
        );
      }
      return this.store({ ...body, metadata: { ...body.metadata, namespace, uid: stored.metadata?.uid } });
    }
    return fail(req, 405, 'MethodNotAllowed', method);
  }

  private store(lease: Lease): Lease {
    const metadata = { ...lease.metadata, resourceVersion: String(++this.revision), uid: lease.metadata?.uid ?? `uid-${this.revision}` };
    const stored: Lease = { ...lease, apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata };
    this.leases.set(`${metadata.namespace}/${metadata.name}`, stored);
    return structuredClone(stored);
  }
}

/** How a replica's connection to the fake behaves. */
export type Link = 'up' | 'down' | 'hung';

/** One replica's connection: stands in for `Client` where only `request` is used (`Api`'s get, list, create, replace, delete). */
export class FakeLeaseClient {
  /** `down`: every request fails at once with a TransportError; `hung`: requests wait until their signal aborts. */
  link: Link = 'up';
  /** Milliseconds (on the server's clock) before an answer arrives; the server acts at once. */
  latencyMs = 0;
  /** When set, the latency of each request (`latencyMs` where it returns undefined): to slow down one request of a sequence. */
  latencyOf: ((req: RequestOptions) => number | undefined) | undefined;

  /** A connection of `server` named `name` in its request log. */
  constructor(
    private readonly server: FakeLeaseServer,
    readonly name: string,
  ) {}

  /** This connection, typed as the `Client` the runtime takes. */
  get asClient(): Client {
    return this as unknown as Client;
  }

  /** One request, answered as the apiserver would, or failed as `link` says. */
  async request<T>(req: RequestOptions): Promise<T> {
    const request = describe(req);
    const name = COLLECTION.exec(req.path)?.[2];
    const seen: SeenRequest = { client: this.name, method: req.method ?? 'GET', name: name && decodeURIComponent(name), at: this.server.clock.now(), code: 0 };
    this.server.requests.push(seen);
    if (req.signal?.aborted) throw new RequestAbortedError(`${request}: aborted`);
    if (this.link === 'down') throw new TransportError(request, Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    if (this.link === 'hung') return this.hang(req, request);
    const latency = this.latencyOf?.(req) ?? this.latencyMs;
    let answer: unknown;
    try {
      answer = this.server.handle(req);
      seen.code = 200;
    } catch (err) {
      seen.code = (err as ApiError).statusCode;
      if (latency > 0) await this.wait(req, request, latency);
      throw err;
    }
    if (latency > 0) await this.wait(req, request, latency);
    return answer as T;
  }

  private hang(req: RequestOptions, request: string): Promise<never> {
    return new Promise((_, reject) => {
      const signal = req.signal;
      signal?.addEventListener('abort', () => reject(new RequestAbortedError(`${request}: aborted`)), { once: true });
    });
  }

  private wait(req: RequestOptions, request: string, latency: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.server.clock.clearTimer(timer);
        reject(new RequestAbortedError(`${request}: aborted`));
      };
      const timer = this.server.clock.setTimer(() => {
        req.signal?.removeEventListener('abort', onAbort);
        resolve();
      }, latency);
      req.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function fail(req: RequestOptions, code: number, reason: string, message: string): never {
  const status: Status = { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason, code };
  throw new ApiError(describe(req), status, { code });
}
