/**
 * `kubereflect generate` (and `kubereflect rbac`, in rbac-command.ts): the command line of the generator. Parses the
 * options, runs the pipeline with progress lines on stderr, and ends with a
 * summary (kinds, files, time). Bad input ends with a message naming the file
 * and where, and a non-zero exit code.
 */
import { parseArgs } from 'node:util';
import { count, formatWarning, GenerateError } from './errors.ts';
import { generate, type GenerateOptions } from './generate.ts';
import { rbacCommand } from './rbac-command.ts';
import { watchAndGenerate } from './watch.ts';

const USAGE = `Usage: kubereflect generate --out DIR [inputs] [options]
       kubereflect rbac MODULE [options]   (the RBAC an operator's Manager needs; --help for more)

Generates typed kinds (type, metadata-only type, typed Api, ObjectRef helpers,
pruning, reflectors) from OpenAPI, CRDs or a live cluster. With no input, uses
the OpenAPI of the pinned kube-apiserver that ships with kubereflect.

Inputs:
  --from-cluster            read the cluster of the kubeconfig: OpenAPI, discovery, CRDs
  --context NAME            kubeconfig context for --from-cluster
  --kubeconfig FILE         kubeconfig for --from-cluster (default: $KUBECONFIG, ~/.kube/config)
  --openapi FILE|DIR        OpenAPI v3 documents (or a v2 document), JSON or YAML; repeatable
  --crd FILE|DIR|GLOB       CustomResourceDefinition manifests (multi-document YAML); repeatable

Output:
  --out DIR                 output folder (required); generated files no longer produced are removed
  --include G/V/K           only kinds matching the pattern, e.g. apps/v1/* or core/*/Pod; repeatable;
                            a pattern that matches no kind is an error
  --exclude G/V/K           leave out kinds matching the pattern; repeatable; leaving none is an error
  --runtime SPEC            how generated code imports the runtime: a package name (default:
                            kubereflect) or a path to its index.ts, relative to here
  --import-extension EXT    .ts or .js for imports between generated modules (default: .ts when the
                            nearest tsconfig.json allows .ts imports or there is none, else .js)
  --no-typecheck            only parse the output before writing it
  --watch                   regenerate whenever a --crd or --openapi input changes (one line per run; Ctrl-C stops)
  --quiet                   no progress lines
  -h, --help                this text
`;

/** Where the CLI prints; `signal` ends `--watch` (default: Ctrl-C). */
export interface CliIo {
  out: (s: string) => void;
  err: (s: string) => void;
  signal?: AbortSignal;
}

/** Runs the CLI with `argv` (without node and the script); resolves to the exit code. */
export async function main(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '-h' || command === '--help' || command === undefined) {
    io.out(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === 'rbac') return rbacCommand(rest, io);
  if (command !== 'generate') {
    io.err(`kubereflect: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
    return 2;
  }
  let opts: (GenerateOptions & { watch?: boolean }) | undefined;
  try {
    opts = parseOptions(rest, io);
  } catch (err) {
    io.err(`kubereflect: ${(err as Error).message} (kubereflect generate --help lists the options)\n`);
    return 2;
  }
  if (!opts) {
    io.out(USAGE);
    return 0;
  }
  try {
    if (opts.watch) {
      await watchAndGenerate(opts, io, io.signal ?? interrupted());
      return 0;
    }
    const result = await generate(opts);
    for (const w of result.warnings) io.err(`kubereflect: warning: ${formatWarning(w)}\n`);
    const secs = (result.timings.total! / 1000).toFixed(1);
    io.out(
      `kubereflect: ${count(result.kinds, 'kind')} in ${count(result.files.size, 'file')} (${result.written} written, ${result.removed} removed) in ${opts.out}, ${secs} s\n`,
    );
    return 0;
  } catch (err) {
    if (err instanceof GenerateError) {
      io.err(`kubereflect: error: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

/** Aborts on the first Ctrl-C (SIGINT). */
function interrupted(): AbortSignal {
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  return ac.signal;
}

/** The options, or undefined for --help. */
function parseOptions(args: string[], io: { err: (s: string) => void }): (GenerateOptions & { watch?: boolean }) | undefined {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      'from-cluster': { type: 'boolean' },
      context: { type: 'string' },
      kubeconfig: { type: 'string' },
      openapi: { type: 'string', multiple: true },
      crd: { type: 'string', multiple: true },
      out: { type: 'string' },
      include: { type: 'string', multiple: true },
      exclude: { type: 'string', multiple: true },
      runtime: { type: 'string' },
      'import-extension': { type: 'string' },
      'no-typecheck': { type: 'boolean' },
      quiet: { type: 'boolean' },
      watch: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  if (!values.out) throw new Error('--out DIR is required: the folder to write the generated modules into, e.g. --out src/kube');
  const ext = values['import-extension'];
  if (ext !== undefined && ext !== '.ts' && ext !== '.js') throw new Error('--import-extension is .ts or .js');
  if ((values.context || values.kubeconfig) && !values['from-cluster']) throw new Error('--context and --kubeconfig go with --from-cluster');
  if (values.watch && !values.crd?.length && !values.openapi?.length) throw new Error('--watch needs --crd or --openapi inputs to watch');
  return {
    out: values.out,
    openapi: values.openapi,
    crd: values.crd,
    cluster: values['from-cluster'] ? { context: values.context, kubeconfig: values.kubeconfig } : undefined,
    include: values.include,
    exclude: values.exclude,
    runtime: values.runtime,
    importExtension: ext,
    typecheck: !values['no-typecheck'],
    progress: values.quiet || values.watch ? undefined : (line) => io.err(`kubereflect: ${line}\n`),
    watch: values.watch,
  };
}

const defaultIo = {
  out: (s: string) => void process.stdout.write(s),
  err: (s: string) => void process.stderr.write(s),
};
