/**
 * The runtime's logging seam. Every part of the runtime that wants to say
 * something (a recovered watch error, a relist, a reconcile that failed, a
 * change of leadership) goes through a `Logger`, so an application can route
 * the messages into its own logging or silence them. Each message comes with
 * structured fields (the resource, the object's key, the error, a duration)
 * that log pipelines can index; the message itself reads on its own.
 *
 * The default, `consoleLogger`, prints warnings and errors only; set
 * `KUBEREFLECT_LOG=debug` to see the chatter too. `jsonLogger` writes one
 * JSON object per line.
 */

/**
 * The structured part of a log entry: flat, with values a log pipeline can
 * index. Conventional keys: `resource` (e.g. `pods`), `namespace`, `name`,
 * `key` (`namespace/name`), `controller`, `reason`, `durationMs`, `error`
 * (a message, never a credential).
 */
export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

/** Where the runtime sends its messages: one finished line each, with its fields. */
export interface Logger {
  /** Chatter for debugging. */
  debug(msg: string, fields?: LogFields): void;
  /** Normal but notable: a relist, a reconnect, leadership gained or lost. */
  info(msg: string, fields?: LogFields): void;
  /** A failure the runtime recovers from. */
  warn(msg: string, fields?: LogFields): void;
  /** A failure it cannot recover from. */
  error(msg: string, fields?: LogFields): void;
}

const PREFIX = 'kubereflect:';

// Read on every call rather than once at import, so a test or a REPL can turn
// debugging on after the module has loaded.
function verbose(): boolean {
  return process.env.KUBEREFLECT_LOG === 'debug';
}

/** `key=value` pairs (logfmt), values quoted when they hold spaces, quotes or `=`; undefined values left out. */
export function formatFields(fields: LogFields | undefined): string {
  if (!fields) return '';
  const parts: string[] = [];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const text = String(value);
    parts.push(`${key}=${text === '' || /[\s"=\\]/.test(text) ? JSON.stringify(text) : text}`);
  }
  return parts.join(' ');
}

const line = (msg: string, fields: LogFields | undefined) => {
  const rest = formatFields(fields);
  return rest ? `${msg} ${rest}` : msg;
};

/**
 * Logs to the console with a `kubereflect:` prefix, the fields after the
 * message as `key=value`. `warn` and `error` always print (to
 * `console.warn` / `console.error`); `debug` and `info` print only when the
 * environment variable `KUBEREFLECT_LOG=debug` is set.
 *
 * @example
 * consoleLogger.warn('watch failed, retrying', { resource: 'pods', retryInMs: 800 });
 * // stderr: kubereflect: watch failed, retrying resource=pods retryInMs=800
 */
export const consoleLogger: Logger = {
  debug: (msg, fields) => void (verbose() && console.debug(PREFIX, line(msg, fields))),
  info: (msg, fields) => void (verbose() && console.info(PREFIX, line(msg, fields))),
  warn: (msg, fields) => console.warn(PREFIX, line(msg, fields)),
  error: (msg, fields) => console.error(PREFIX, line(msg, fields)),
};

/** Options of {@link jsonLogger}. */
export interface JsonLoggerOptions {
  /** The lowest level written (default `info`). */
  level?: 'debug' | 'info' | 'warn' | 'error';
  /** Where each line goes (default: stderr). */
  write?: (line: string) => void;
  /** The clock of the `time` field (default `Date.now`). */
  now?: () => number;
}

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/**
 * A logger that writes one JSON object per line — `{"time":"…","level":"warn","msg":"…",…fields}` —
 * for log pipelines. Fields never overwrite `time`, `level` or `msg`.
 *
 * @example
 * const ctl = new Controller(widgets, { logger: jsonLogger({ level: 'info' }) });
 * // {"time":"2026-12-03T10:00:00.000Z","level":"info","msg":"leading","controller":"widgets","identity":"web-1"}
 */
export function jsonLogger(opts: JsonLoggerOptions = {}): Logger {
  const min = LEVELS.indexOf(opts.level ?? 'info');
  const write = opts.write ?? ((l: string) => void process.stderr.write(`${l}\n`));
  const now = opts.now ?? Date.now;
  const at = (level: (typeof LEVELS)[number]) => (msg: string, fields?: LogFields) => {
    if (LEVELS.indexOf(level) < min) return;
    const entry: Record<string, unknown> = { time: new Date(now()).toISOString(), level, msg };
    for (const [key, value] of Object.entries(fields ?? {})) if (!(key in entry)) entry[key] = value;
    write(JSON.stringify(entry));
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/**
 * A logger that drops everything; handy in tests.
 *
 * @example
 * for await (const pod of appliedObjects(events, (e) => silentLogger.warn(e.message))) use(pod);
 */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};
