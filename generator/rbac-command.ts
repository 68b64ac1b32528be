/**
 * `kubereflect rbac MODULE`: prints the minimal RBAC of the operator whose
 * main is MODULE (compiled JavaScript, or TypeScript that Node runs as is),
 * as `Manager.rbac()` does, without contacting any cluster.
 *
 * The module is imported with a hand-off installed under a global symbol:
 * the first `Manager` whose `start()` (or `run()`) is called hands itself
 * over instead of starting, and its manifest is printed. A module that
 * exports its manager (as `default` or `manager`) without starting it works
 * too. The command ends the process when done: the module's own pending
 * work (its main never started) is not waited for. What the module prints
 * while it loads goes to stderr, so that stdout is the manifest alone.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

/** The symbol the runtime's `Manager.start()` looks for (see runtime/manager/manager.ts). */
const HAND_OFF = Symbol.for('kubereflect.manager.hand-off');

const USAGE = `Usage: kubereflect rbac MODULE [--service-account NAMESPACE/NAME | --user NAME | --group NAME] [-- ARGS]

Prints the RBAC (ClusterRole/Role and bindings, YAML) that the Manager of the
operator MODULE needs: list and watch for each cache, the writes its
controllers declare, the Lease verbs of its leader election or ring. MODULE
is the operator's main (e.g. dist/main.js): it is imported, and its manager
is handed over at start() instead of starting, so no cluster is contacted.
It needs a kubeconfig only if the module builds its client from one. The
module sees ARGS (after --) as its command line, e.g. -- --namespace shop.

  --service-account NS/NAME   bind to this ServiceAccount (default: one named after the manager, in default)
  --user NAME, --group NAME   bind to this user or group instead
  --timeout SECONDS           how long to wait for the module to start its manager (default 10)
  -h, --help                  this text
`;

/** The part of a `Manager` the command uses. */
interface RbacSource {
  readonly name: string;
  rbac(opts?: { subject?: unknown }): string;
}

const isManager = (v: unknown): v is RbacSource =>
  typeof v === 'object' && v !== null && typeof (v as RbacSource).rbac === 'function' && typeof (v as RbacSource).name === 'string';

/** Runs the command; resolves to the exit code. */
export async function rbacCommand(args: string[], io: { out: (s: string) => void; err: (s: string) => void }): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (err) {
    io.err(`kubereflect rbac: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!parsed) {
    io.out(USAGE);
    return 0;
  }
  const { module, subject, timeoutMs, moduleArgs } = parsed;
  const argv = process.argv;
  process.argv = [argv[0]!, resolve(module), ...moduleArgs];
  const handedOver = new Promise<RbacSource>((done) => {
    (globalThis as Record<symbol, unknown>)[HAND_OFF] = (m: unknown) => {
      if (isManager(m)) done(m);
    };
  });
  let timer: NodeJS.Timeout | undefined;
  // What the module prints while it loads goes to stderr: stdout carries the manifest alone (to pipe into kubectl apply).
  const stdoutWrite = process.stdout.write;
  process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
  let manifest: string;
  try {
    const imported = import(pathToFileURL(resolve(module)).href).then((ns: Record<string, unknown>) => {
      const exported = [ns.default, ns.manager].find(isManager);
      return exported;
    });
    const found = await Promise.race([
      handedOver,
      imported.then((m) => m ?? handedOver),
      new Promise<undefined>((done) => (timer = setTimeout(() => done(undefined), timeoutMs))),
    ]);
    if (!found) {
      io.err(`kubereflect rbac: ${module} neither exported a Manager (as default or manager) nor started one within ${timeoutMs / 1000} s\n`);
      return 1;
    }
    manifest = found.rbac(subject ? { subject } : {});
  } catch (err) {
    io.err(`kubereflect rbac: importing ${module} failed: ${(err as Error).message}\n`);
    return 1;
  } finally {
    clearTimeout(timer);
    delete (globalThis as Record<symbol, unknown>)[HAND_OFF];
    process.argv = argv;
    process.stdout.write = stdoutWrite;
  }
  io.out(`${manifest}\n`);
  return 0;
}

function parse(all: string[]) {
  const dashes = all.indexOf('--');
  const args = dashes < 0 ? all : all.slice(0, dashes);
  const moduleArgs = dashes < 0 ? [] : all.slice(dashes + 1);
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      'service-account': { type: 'string' },
      user: { type: 'string' },
      group: { type: 'string' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  if (positionals.length !== 1) throw new Error("name one module: the operator's main, e.g. dist/main.js");
  const given = [values['service-account'], values.user, values.group].filter((v) => v !== undefined);
  if (given.length > 1) throw new Error('--service-account, --user and --group: one at most');
  let subject: { kind: 'ServiceAccount'; namespace: string; name: string } | { kind: 'User' | 'Group'; name: string } | undefined;
  if (values['service-account'] !== undefined) {
    const [namespace, name, ...rest] = values['service-account'].split('/');
    if (!namespace || !name || rest.length) throw new Error('--service-account is NAMESPACE/NAME');
    subject = { kind: 'ServiceAccount', namespace, name };
  } else if (values.user !== undefined) subject = { kind: 'User', name: values.user };
  else if (values.group !== undefined) subject = { kind: 'Group', name: values.group };
  const seconds = values.timeout === undefined ? 10 : Number(values.timeout);
  if (!(seconds > 0)) throw new Error('--timeout is a number of seconds');
  return { module: positionals[0]!, subject, timeoutMs: seconds * 1000, moduleArgs };
}
