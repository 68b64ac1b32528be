/**
 * Why a kubeconfig selects no cluster, in words a user can act on: the
 * `--context` that is not in the file (and the contexts that are), a missing
 * or dangling `current-context`, a context whose cluster the file lacks.
 * The client only says that there is no current cluster. This reads the
 * same files the client reads (`--kubeconfig`, else every file of
 * `$KUBECONFIG`, else `~/.kube/config`) and only the names of contexts and
 * clusters in them: nothing of a user, a server or a credential reaches a
 * message.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parse } from 'yaml';

/** What is needed of the kubeconfig: the file to read, and the context to select. */
export interface KubeconfigSelection {
  kubeconfig?: string;
  context?: string;
}

interface Names {
  files: string[];
  contexts: Map<string, { cluster?: string }>;
  clusters: Set<string>;
  current?: string;
}

/**
 * The files a client reads for `sel`, in its order: `--kubeconfig`, else the
 * non-empty entries of `$KUBECONFIG`, else `$HOME/.kube/config`.
 */
export function kubeconfigFiles(sel: KubeconfigSelection, env: NodeJS.ProcessEnv = process.env): string[] {
  if (sel.kubeconfig) return [sel.kubeconfig];
  if (env.KUBECONFIG) return env.KUBECONFIG.split(delimiter).filter(Boolean);
  return [join(env.HOME || homedir(), '.kube', 'config')];
}

/**
 * Why `sel` selects no cluster, or undefined when the files do not say (one
 * cannot be read or parsed, or they look fine: the client's own message
 * stands then).
 */
export function explainNoCluster(sel: KubeconfigSelection, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const files = kubeconfigFiles(sel, env);
  if (!sel.kubeconfig && !env.KUBECONFIG && !existsSync(files[0]!)) {
    // The client falls back to the pod's service account (or localhost): a context of that name cannot exist.
    return sel.context
      ? `context ${JSON.stringify(sel.context)} not found: there is no kubeconfig ($KUBECONFIG is not set and ${files[0]} does not exist)`
      : undefined;
  }
  const names = readNames(files);
  if (!names) return undefined;
  const where = names.files.join(', ');
  const contexts = list([...names.contexts.keys()]);
  if (sel.context && !names.contexts.has(sel.context)) {
    return `context ${JSON.stringify(sel.context)} not found in ${where}; ${contexts ? `contexts: ${contexts}` : 'it has no contexts'}`;
  }
  const name = sel.context ?? names.current;
  if (!name) return `${where} ${names.files.length === 1 ? 'has' : 'have'} no current-context: pass --context${contexts ? ` (contexts: ${contexts})` : ''}`;
  const context = names.contexts.get(name);
  if (!context) return `current-context ${JSON.stringify(name)} not found in ${where}; ${contexts ? `contexts: ${contexts}` : 'it has no contexts'}`;
  if (context.cluster === undefined || !names.clusters.has(context.cluster)) {
    const clusters = list([...names.clusters]);
    const which = context.cluster === undefined ? 'names no cluster' : `names cluster ${JSON.stringify(context.cluster)}, which ${where} does not define`;
    return `context ${JSON.stringify(name)} ${which}${clusters ? `; clusters: ${clusters}` : ''}`;
  }
  return undefined;
}

/** The context and cluster names of the files, merged as the client merges them (a later file's current-context wins). */
function readNames(files: string[]): Names | undefined {
  const names: Names = { files, contexts: new Map(), clusters: new Set() };
  for (const file of files) {
    let doc: unknown;
    try {
      doc = parse(readFileSync(file, 'utf8'));
    } catch {
      return undefined;
    }
    if (!isRecord(doc)) return undefined;
    for (const c of Array.isArray(doc.contexts) ? doc.contexts : []) {
      if (!isRecord(c) || typeof c.name !== 'string' || names.contexts.has(c.name)) continue;
      const cluster = isRecord(c.context) && typeof c.context.cluster === 'string' ? c.context.cluster : undefined;
      names.contexts.set(c.name, cluster === undefined ? {} : { cluster });
    }
    for (const c of Array.isArray(doc.clusters) ? doc.clusters : []) if (isRecord(c) && typeof c.name === 'string') names.clusters.add(c.name);
    if (typeof doc['current-context'] === 'string' && doc['current-context']) names.current = doc['current-context'];
  }
  return names;
}

/** Sorted names, at most 20 of them. */
function list(names: string[]): string {
  const sorted = [...names].sort();
  return sorted.length > 20 ? `${sorted.slice(0, 20).join(', ')}, … (${sorted.length - 20} more)` : sorted.join(', ');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
