/**
 * The runtime's logging seam. Every part of the runtime that wants to say
 * something (a recovered watch error, a relist) goes through a `Logger`, so an
 * application can route the messages into its own logging or silence them.
 * The default, `consoleLogger`, prints warnings and errors only; set
 * `KUBEREFLECT_LOG=debug` to see the chatter too.
 */

/** Where the runtime sends its messages. Each method takes one finished line. */
export interface Logger {
  /** Chatter for debugging. */
  debug(msg: string): void;
  /** Normal but notable: a relist, a reconnect. */
  info(msg: string): void;
  /** A failure the runtime recovers from. */
  warn(msg: string): void;
  /** A failure it cannot recover from. */
  error(msg: string): void;
}

const PREFIX = 'kubereflect:';

// Read on every call rather than once at import, so a test or a REPL can turn
// debugging on after the module has loaded.
function verbose(): boolean {
  return process.env.KUBEREFLECT_LOG === 'debug';
}

/**
 * Logs to the console with a `kubereflect:` prefix. `warn` and `error` always
 * print (to `console.warn` / `console.error`); `debug` and `info` print only
 * when the environment variable `KUBEREFLECT_LOG=debug` is set.
 *
 * @example
 * consoleLogger.warn('watch of pods failed, retrying in 800 ms');
 * // stderr: kubereflect: watch of pods failed, retrying in 800 ms
 */
export const consoleLogger: Logger = {
  debug: (msg) => void (verbose() && console.debug(PREFIX, msg)),
  info: (msg) => void (verbose() && console.info(PREFIX, msg)),
  warn: (msg) => console.warn(PREFIX, msg),
  error: (msg) => console.error(PREFIX, msg),
};

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
