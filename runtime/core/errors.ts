/**
 * Typed errors. Every failure the runtime reports is a `KubeError`; messages
 * name the request (method and path) and never carry credentials. Each kind
 * of error has a stable `code` (`ERR_KUBE_…`) to branch on where `instanceof`
 * does not reach (two copies of the package, errors that crossed a worker).
 */

/** The `Status` object the server returns with a failure. */
export interface Status {
  apiVersion?: string;
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    uid?: string;
    causes?: { reason?: string; message?: string; field?: string }[];
    retryAfterSeconds?: number;
  };
}

/** The stable `code` of each kind of `KubeError`. */
export type KubeErrorCode =
  | 'ERR_KUBE'
  | 'ERR_KUBE_API'
  | 'ERR_KUBE_TRANSPORT'
  | 'ERR_KUBE_REQUEST_TIMEOUT'
  | 'ERR_KUBE_DECODE'
  | 'ERR_KUBE_REQUEST_ABORTED'
  | 'ERR_KUBE_LABEL_SELECTOR'
  | 'ERR_KUBE_FINALIZER'
  | 'ERR_KUBE_APPLY'
  | 'ERR_KUBE_KUBECONFIG'
  | 'ERR_KUBE_SOURCE'
  | 'ERR_KUBE_NOT_READY'
  | 'ERR_KUBE_MANAGER'
  | 'ERR_KUBE_RBAC'
  | 'ERR_KUBE_ACCESS_REVIEW'
  | 'ERR_KUBE_TERMINAL'
  | 'ERR_KUBE_RECONCILE_TIMEOUT';

/** Base class of every error the runtime raises or emits. */
export class KubeError extends Error {
  override name = 'KubeError';
  /** What kind of error this is, stable across releases (the class's name can be minified away; this cannot). */
  readonly code: KubeErrorCode = 'ERR_KUBE';
  /** Seconds the server asked us to wait (429 `Retry-After`), if any. */
  retryAfterSeconds?: number;
}

/** The server answered with an error status, or sent an `ERROR` event in a watch. */
export class ApiError extends KubeError {
  override name = 'ApiError';
  override readonly code = 'ERR_KUBE_API';
  /** HTTP status code, or the `code` of an in-stream `Status`. */
  readonly statusCode: number;
  /** The machine-readable reason (`NotFound`, `Forbidden`, `Expired`, `Gone`, …), when the server gave one. */
  readonly reason: string | undefined;
  /** The server's `Status`, or one built from the HTTP response when the body was not a `Status`. */
  readonly status: Status;
  /** What was asked: `GET /api/v1/pods`. */
  readonly request: string;
  /** True when the error arrived as an `ERROR` event inside a watch response. */
  readonly inStream: boolean;

  /** An error for `request` (e.g. `GET /api/v1/pods`) with the server's `status`; `opts` carries the HTTP code when it differs, whether it came in a watch stream, and Retry-After. */
  constructor(request: string, status: Status, opts: { code?: number; inStream?: boolean; retryAfterSeconds?: number } = {}) {
    const code = opts.code ?? status.code ?? 0;
    super(`${request}: ${code}${status.reason ? ` ${status.reason}` : ''}${status.message ? `: ${status.message}` : ''}`);
    this.statusCode = code;
    this.reason = status.reason;
    this.status = status;
    this.request = request;
    this.inStream = opts.inStream ?? false;
    const retry = opts.retryAfterSeconds ?? status.details?.retryAfterSeconds;
    if (retry !== undefined) this.retryAfterSeconds = retry;
  }

  /** 410 Gone / Expired: the resourceVersion or continue token is too old; list again. */
  get isGone(): boolean {
    return this.statusCode === 410;
  }
}

/** The connection failed: refused, reset, TLS, DNS, or cut mid-response. */
export class TransportError extends KubeError {
  override name = 'TransportError';
  override readonly code = 'ERR_KUBE_TRANSPORT';
  readonly request: string;
  /** `request` failed on the wire; `cause` is the socket or TLS error. */
  constructor(request: string, cause: unknown) {
    const reason = cause instanceof Error ? `${(cause as NodeJS.ErrnoException).code ?? cause.name}: ${cause.message}` : String(cause);
    super(`${request}: ${reason}`, { cause });
    this.request = request;
  }
}

/** No response, or no data on a watch, within the allowed time. */
export class RequestTimeoutError extends KubeError {
  override name = 'RequestTimeoutError';
  override readonly code = 'ERR_KUBE_REQUEST_TIMEOUT';
  readonly request: string;
  /** `what` (default: no response) did not arrive for `request` within `ms`. */
  constructor(request: string, ms: number, what = 'no response') {
    super(`${request}: ${what} within ${ms} ms`);
    this.request = request;
  }
}

/** A response body, or one line of a watch body, that is not what the protocol promises. */
export class DecodeError extends KubeError {
  override name = 'DecodeError';
  override readonly code = 'ERR_KUBE_DECODE';
  readonly request: string;
  /**
   * The start of the offending text, at most 80 characters: enough to see
   * what it was (a watch line's type and kind), too little to carry the data
   * of an object such as a Secret into logs.
   */
  readonly excerpt: string;
  /** `text` of `request`'s response is wrong in the way `problem` says; the message quotes it shortened. */
  constructor(request: string, problem: string, text: string, cause?: unknown) {
    const excerpt = text.length > 80 ? `${text.slice(0, 80)}…` : text;
    super(`${request}: ${problem} (${text.length} bytes: ${JSON.stringify(excerpt)})`, { cause });
    this.request = request;
    this.excerpt = excerpt;
  }
}

/** The request was aborted through its `AbortSignal`. */
export class RequestAbortedError extends KubeError {
  override name = 'RequestAbortedError';
  override readonly code = 'ERR_KUBE_REQUEST_ABORTED';
}
