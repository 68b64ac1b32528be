/**
 * How the examples and the demo reach a cluster: the local control plane by
 * default (started or reused), or the user's own with `--context NAME`.
 */
import { randomBytes } from 'node:crypto';
import { Api, Client, type KubeObject } from '../../runtime/index.ts';
import type { ResourceDescriptor } from '../../runtime/kind.ts';
import { up, usePlane } from '../../test/controlplane/plane.ts';

/** Command-line options every example understands. */
export interface ExampleArgs {
  /** Do the job once and exit (the tests use this). */
  once: boolean;
  /** Use this context of the default kubeconfig instead of the local control plane. */
  context: string | undefined;
  /** Run for this many seconds, then exit. */
  seconds: number | undefined;
}

/** Parses `--once`, `--context NAME` and `--seconds N`; anything else is an error. */
export function parseArgs(argv: string[] = process.argv.slice(2)): ExampleArgs {
  const args: ExampleArgs = { once: false, context: undefined, seconds: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--once') args.once = true;
    else if (a === '--context' && argv[i + 1]) args.context = argv[++i];
    else if (a === '--seconds' && argv[i + 1] && Number(argv[i + 1]) > 0) args.seconds = Number(argv[++i]);
    else throw new Error(`unknown argument ${JSON.stringify(a)} (expected --once, --context NAME, --seconds N)`);
  }
  return args;
}

/** A connection for an example, and whether it is the local control plane (where examples may write). */
export interface Connection {
  client: Client;
  local: boolean;
  /** The local plane's kubeconfig (admin context), for examples that open more clients; undefined with `--context`. */
  kubeconfig?: string;
  /** Call when done: closes the client and releases the local plane. */
  close(): Promise<void>;
}

/** Connects to `--context` or to the local control plane (which keeps running afterwards). */
export async function connect(args: ExampleArgs): Promise<Connection> {
  if (args.context) {
    const client = Client.fromDefault({ context: args.context });
    return { client, local: false, close: async () => client.close() };
  }
  const { state } = await up();
  const release = usePlane(false);
  const client = Client.fromFile(state.kubeconfig, { context: 'admin' });
  return {
    client,
    local: true,
    kubeconfig: state.kubeconfig,
    async close() {
      client.close();
      await release();
    },
  };
}

const namespaces: ResourceDescriptor = { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false };

/** Creates a fresh namespace named after the example (namespaces are never deleted on the local plane). */
export async function freshNamespace(client: Client, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await new Api<KubeObject>(client, namespaces).create({ metadata: { name, labels: { 'kubereflect.dev/example': prefix } } });
  return name;
}

/**
 * Resolves when the example should stop: at once with `--once`, after
 * `--seconds N`, or on Ctrl-C.
 */
export function untilDone(args: ExampleArgs): Promise<void> {
  if (args.once) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = args.seconds ? setTimeout(done, args.seconds * 1000) : undefined;
    process.once('SIGINT', done);
    if (!args.seconds) console.log('(Ctrl-C to stop)');
    function done() {
      clearTimeout(timer);
      process.removeListener('SIGINT', done);
      resolve();
    }
  });
}
