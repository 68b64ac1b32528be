/**
 * Stage 1 of the generator: load the sources. Reads OpenAPI documents (files
 * or folders, JSON or YAML, v3 per group-version or a whole v2), CRD manifests
 * (files, folders or globs of multi-document YAML) and a live cluster
 * (`/openapi/v3` or `/openapi/v2`, API discovery, and the cluster's CRDs),
 * and hands them on as plain data with their origin (`file:line`, or a URL)
 * for later messages. Nothing here interprets schemas; a CRD's schemas are
 * only checked against the rules the apiserver applies to them
 * (`crd-schema.ts`), here where the line of each node is known.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document } from 'yaml';
import { GenerateError, type GenerateWarning } from '../errors.ts';
import { checkCrdSchemas, type DocPath } from './crd-schema.ts';
import { globToRegExp, hasGlob, splitGlob } from './glob.ts';
import { explainNoCluster } from './kubeconfig.ts';

/** The saved OpenAPI of the pinned kube-apiserver: the default input. */
export const EMBEDDED_OPENAPI = join(dirname(fileURLToPath(import.meta.url)), '..', 'openapi');

/** A JSON value as parsed; schemas stay untyped until the model reads them. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** One OpenAPI document: a v3 group-version document, or a v2 document. */
export interface OpenApiSource {
  type: 'openapi';
  origin: string;
  version: 2 | 3;
  doc: JsonObject;
}

/** One CustomResourceDefinition manifest. */
export interface CrdSource {
  type: 'crd';
  /** `file:line` of the document, or the CRD's URL on a cluster: where messages point. */
  origin: string;
  /**
   * The file alone (the URL on a cluster): what generated headers name. A
   * line there would change every module of the file whenever a document
   * above it grows.
   */
  from: string;
  crd: JsonObject;
}

/** What API discovery says about one resource. */
export interface DiscoveredResource {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  verbs: string[];
  subresources: string[];
}

/** A cluster's API discovery. */
export interface DiscoverySource {
  type: 'discovery';
  origin: string;
  resources: DiscoveredResource[];
}

export type Source = OpenApiSource | CrdSource | DiscoverySource;

/** How to reach a cluster. */
export interface ClusterOptions {
  /** Kubeconfig file; default: `$KUBECONFIG`, `~/.kube/config`, or in-cluster. */
  kubeconfig?: string;
  context?: string;
}

export interface LoadOptions {
  /** OpenAPI files or folders. */
  openapi?: string[];
  /** CRD files, folders or globs. */
  crd?: string[];
  cluster?: ClusterOptions;
  /** Progress lines. */
  progress?: (line: string) => void;
}

export interface Loaded {
  sources: Source[];
  warnings: GenerateWarning[];
}

/**
 * Loads every input. With no input at all, loads the embedded OpenAPI of the
 * pinned control plane.
 */
export async function loadSources(opts: LoadOptions): Promise<Loaded> {
  const progress = opts.progress ?? (() => {});
  const sources: Source[] = [];
  const warnings: GenerateWarning[] = [];
  const openapi = opts.openapi?.length || opts.crd?.length || opts.cluster ? (opts.openapi ?? []) : [EMBEDDED_OPENAPI];
  for (const input of openapi) {
    const found = loadOpenApiInput(input);
    progress(`loaded ${found.length} OpenAPI document${found.length === 1 ? '' : 's'} from ${displayPath(input)}`);
    sources.push(...found);
  }
  for (const input of opts.crd ?? []) {
    const found = loadCrdInput(input, warnings);
    progress(`loaded ${found.length} CRD${found.length === 1 ? '' : 's'} from ${displayPath(input)}`);
    sources.push(...found);
  }
  if (opts.cluster) sources.push(...(await loadCluster(opts.cluster, progress, warnings)));
  return { sources, warnings };
}

/** A path as the user would like to read it: relative to the working directory when inside it. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), resolve(path));
  return rel && !rel.startsWith('..') ? rel : path;
}

// ---------------------------------------------------------------------------
// OpenAPI files

/**
 * The OpenAPI documents of a file or a folder. A folder with v3 documents
 * yields those; a folder with only a v2 document (`swagger: "2.0"`) yields it.
 * Files that are neither (discovery indexes, keys) are skipped.
 */
function loadOpenApiInput(input: string): OpenApiSource[] {
  const files = filesOf(input, /\.(json|ya?ml)$/i);
  const docs: OpenApiSource[] = [];
  for (const file of files) {
    const doc = parseDataFile(file);
    if (!isObject(doc)) continue;
    const origin = displayPath(file);
    if (typeof doc.openapi === 'string' && doc.openapi.startsWith('3') && isObject(doc.components)) docs.push({ type: 'openapi', origin, version: 3, doc });
    else if (doc.swagger === '2.0' && isObject(doc.definitions)) docs.push({ type: 'openapi', origin, version: 2, doc });
  }
  const v3 = docs.filter((d) => d.version === 3);
  if (v3.length) return v3;
  if (!docs.length) throw new GenerateError('no OpenAPI v3 or v2 document found', displayPath(input));
  return docs;
}

/** Parses a JSON or YAML file into plain data; reports the line of a syntax error. */
function parseDataFile(file: string): Json {
  const text = readText(file);
  if (/\.json$/i.test(file)) {
    try {
      return JSON.parse(text) as Json;
    } catch {
      // fall through: the YAML parser reports the line of the problem
    }
  }
  const docs = parseYamlDocuments(file, text);
  if (docs.length !== 1) throw new GenerateError(`expected one document, found ${docs.length}`, displayPath(file));
  return docs[0]!.value;
}

// ---------------------------------------------------------------------------
// CRD manifests

/** The CRDs of a file, a folder (recursively) or a glob. Every document must be a v1 CRD whose schemas the apiserver would accept. */
function loadCrdInput(input: string, warnings: GenerateWarning[]): CrdSource[] {
  const files = hasGlob(input) ? expandGlob(input) : filesOf(input, /\.(ya?ml|json)$/i);
  if (!files.length) throw new GenerateError('no CRD files match', input);
  const out: CrdSource[] = [];
  for (const file of files) {
    for (const { value, line, lineOf } of parseYamlDocuments(file, readText(file))) {
      const origin = `${displayPath(file)}:${line}`;
      if (value === null) continue; // an empty document, e.g. after a trailing `---`
      const crd = checkCrd(value, origin);
      checkCrdSchemas(crd, origin, {
        warnings,
        whereOf: (path) => {
          const at = lineOf(path);
          return at === undefined ? undefined : `${displayPath(file)}:${at}`;
        },
      });
      out.push({ type: 'crd', origin, from: displayPath(file), crd });
    }
  }
  return out;
}

/** Checks that a document is an `apiextensions.k8s.io/v1` CustomResourceDefinition. */
export function checkCrd(value: Json, origin: string): JsonObject {
  if (!isObject(value)) throw new GenerateError('not a CustomResourceDefinition (the document is not a mapping)', origin);
  if (value.kind !== 'CustomResourceDefinition') {
    const what = typeof value.kind === 'string' ? `a ${value.kind}` : 'a document without a kind';
    throw new GenerateError(`not a CustomResourceDefinition: found ${what}`, origin);
  }
  if (value.apiVersion !== 'apiextensions.k8s.io/v1') {
    throw new GenerateError(`CustomResourceDefinition of apiVersion ${JSON.stringify(value.apiVersion)}: only apiextensions.k8s.io/v1 is supported`, origin);
  }
  return value;
}

interface YamlDocument {
  value: Json;
  /** 1-based line where the document starts. */
  line: number;
  /** The 1-based line of the node at `path` (of its key, in a mapping), or of the deepest part of `path` that exists. */
  lineOf: (path: DocPath) => number | undefined;
}

/** The documents of a YAML stream; a syntax error names the file, line and column. */
export function parseYamlDocuments(file: string, text: string): YamlDocument[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [];
  const out: YamlDocument[] = [];
  for (const doc of list) {
    const error = doc.errors[0];
    if (error) {
      const pos = error.linePos?.[0];
      const where = pos ? `${displayPath(file)}:${pos.line}:${pos.col}` : displayPath(file);
      throw new GenerateError(`invalid YAML: ${error.message.split('\n')[0]}`, where);
    }
    const start = doc.contents?.range?.[0] ?? doc.range[0];
    const line = lineCounter.linePos(start).line;
    let value: Json;
    try {
      value = (doc.toJS({ maxAliasCount: 1000 }) ?? null) as Json;
    } catch (err) {
      // e.g. an alias to an anchor of another document, or too many aliases
      throw new GenerateError(`invalid YAML: ${(err as Error).message.split('\n')[0]}`, `${displayPath(file)}:${line}`, { cause: err });
    }
    out.push({ value, line, lineOf: (path) => lineOfNode(doc, lineCounter, path) });
  }
  return out;
}

function lineOfNode(doc: Document, lines: LineCounter, path: DocPath): number | undefined {
  let node: unknown = doc.contents;
  let line: number | undefined;
  const at = (range: readonly number[] | null | undefined) => (range ? lines.linePos(range[0]!).line : line);
  for (const key of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(key));
      if (!pair) return line;
      line = at((pair.key as { range?: number[] } | null)?.range);
      node = pair.value;
    } else if (isSeq(node) && typeof key === 'number' && node.items[key] !== undefined) {
      node = node.items[key];
      line = at((node as { range?: number[] }).range);
    } else return line;
  }
  return line;
}

// ---------------------------------------------------------------------------
// Files, folders and globs

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new GenerateError(`cannot read: ${(err as Error).message}`, displayPath(file));
  }
}

/** A file, or the matching files of a folder (recursively), sorted. */
function filesOf(input: string, pattern: RegExp): string[] {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(input);
  } catch {
    throw new GenerateError('no such file or folder', input);
  }
  if (stat.isFile()) return [input];
  const out: string[] = [];
  walk(input, (file) => {
    if (pattern.test(file)) out.push(file);
  });
  return out.sort();
}

function walk(dir: string, visit: (file: string) => void): void {
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, visit);
    else if (entry.isFile()) visit(path);
  }
}

/**
 * The files matching a glob (`*`, `**`, `?`, `{a,b}`, `[abc]`), sorted. The
 * walk starts at the longest leading part without glob characters.
 */
export function expandGlob(pattern: string): string[] {
  const { base, rest } = splitGlob(pattern, sep);
  const matcher = globToRegExp(rest);
  const out: string[] = [];
  try {
    if (!statSync(base).isDirectory()) return [];
  } catch {
    return [];
  }
  walk(base, (file) => {
    const rel = relative(base, file).split(sep).join('/');
    if (matcher.test(rel)) out.push(file);
  });
  return out.sort();
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---------------------------------------------------------------------------
// A live cluster

interface ClusterClient {
  server: string;
  request<T>(req: { path: string }): Promise<T>;
}

/**
 * Loads a cluster: its CRDs (from the apiextensions API), the OpenAPI v3
 * documents of every other group-version (or the v2 document when the server
 * has no v3), and API discovery for plurals, scope, verbs and subresources.
 */
async function loadCluster(opts: ClusterOptions, progress: (line: string) => void, warnings: GenerateWarning[]): Promise<Source[]> {
  const { Client } = await import('kubereflect');
  let client: ClusterClient & { close(): void };
  try {
    client = opts.kubeconfig ? Client.fromFile(opts.kubeconfig, { context: opts.context }) : Client.fromDefault({ context: opts.context });
  } catch (err) {
    // The client says only that no cluster is selected; the files say why.
    const why = explainNoCluster(opts);
    if (why) throw new GenerateError(why, undefined, { cause: err });
    throw new GenerateError(`cannot load the kubeconfig: ${(err as Error).message}`, opts.kubeconfig ?? 'kubeconfig');
  }
  try {
    const sources: Source[] = [];
    try {
      await client.request({ path: '/version' });
    } catch (err) {
      throw new GenerateError(`the cluster is unreachable: ${(err as Error).message}`, client.server, { cause: err });
    }
    progress(`connected to ${client.server}`);
    const crds = await fetchCrds(client, warnings);
    sources.push(...crds);
    const crdGroupVersions = new Set<string>();
    for (const c of crds) {
      const spec = c.crd.spec as JsonObject;
      for (const v of (spec.versions as JsonObject[]) ?? []) crdGroupVersions.add(`${String(spec.group)}/${String(v.name)}`);
    }
    progress(`found ${crds.length} CRD${crds.length === 1 ? '' : 's'}`);
    sources.push(...(await fetchOpenApi(client, crdGroupVersions, progress)));
    sources.push(await fetchDiscovery(client));
    return sources;
  } finally {
    client.close();
  }
}

async function fetchCrds(client: ClusterClient, warnings: GenerateWarning[]): Promise<CrdSource[]> {
  const path = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
  const list = await client.request<{ items?: JsonObject[] }>({ path });
  return (list.items ?? [])
    .map((crd) => ({ ...crd, apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition' }) as JsonObject)
    .sort((a, b) => compare(String((a.metadata as JsonObject)?.name), String((b.metadata as JsonObject)?.name)))
    .map((crd) => {
      const url = `${client.server}${path}/${String((crd.metadata as JsonObject)?.name)}`;
      checkCrdSchemas(crd, url, { warnings, fromCluster: true });
      return { type: 'crd' as const, origin: url, from: url, crd };
    });
}

async function fetchOpenApi(client: ClusterClient, skip: Set<string>, progress: (line: string) => void): Promise<OpenApiSource[]> {
  let index: { paths?: Record<string, { serverRelativeURL?: string }> } | undefined;
  try {
    index = await client.request({ path: '/openapi/v3' });
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw new GenerateError(`cannot read /openapi/v3: ${(err as Error).message}`, client.server);
  }
  if (!index?.paths) {
    progress('the server has no /openapi/v3; reading /openapi/v2');
    const doc = await client.request<JsonObject>({ path: '/openapi/v2' });
    return [{ type: 'openapi', origin: `${client.server}/openapi/v2`, version: 2, doc }];
  }
  const out: OpenApiSource[] = [];
  for (const key of Object.keys(index.paths).sort()) {
    const m = /^(?:api\/(v[^/]+)|apis\/([^/]+)\/([^/]+))$/.exec(key);
    if (!m) continue;
    const groupVersion = m[1] ? `/${m[1]}` : `${m[2]}/${m[3]}`;
    if (skip.has(groupVersion)) continue;
    const url = index.paths[key]?.serverRelativeURL ?? `/openapi/v3/${key}`;
    const doc = await client.request<JsonObject>({ path: url });
    out.push({ type: 'openapi', origin: `${client.server}/openapi/v3/${key}`, version: 3, doc });
  }
  progress(`loaded ${out.length} OpenAPI v3 documents from the cluster`);
  return out;
}

interface ApiResourceList {
  groupVersion: string;
  resources: { name: string; kind: string; namespaced: boolean; verbs: string[] }[];
}

async function fetchDiscovery(client: ClusterClient): Promise<DiscoverySource> {
  const lists: ApiResourceList[] = [];
  const core = await client.request<{ versions: string[] }>({ path: '/api' });
  for (const v of core.versions) lists.push(await client.request<ApiResourceList>({ path: `/api/${v}` }));
  const groups = await client.request<{ groups: { name: string; versions: { groupVersion: string }[] }[] }>({ path: '/apis' });
  for (const g of groups.groups) {
    for (const v of g.versions) lists.push(await client.request<ApiResourceList>({ path: `/apis/${v.groupVersion}` }));
  }
  const resources: DiscoveredResource[] = [];
  for (const list of lists) {
    const [group, version] = list.groupVersion.includes('/') ? (list.groupVersion.split('/') as [string, string]) : ['', list.groupVersion];
    const subs = new Map<string, string[]>();
    for (const r of list.resources) {
      const [plural, sub] = r.name.split('/');
      if (sub) subs.set(plural!, [...(subs.get(plural!) ?? []), sub]);
    }
    for (const r of list.resources) {
      if (r.name.includes('/')) continue;
      resources.push({
        group,
        version,
        kind: r.kind,
        plural: r.name,
        namespaced: r.namespaced,
        verbs: [...r.verbs].sort(),
        subresources: (subs.get(r.name) ?? []).sort(),
      });
    }
  }
  return { type: 'discovery', origin: `${client.server} (API discovery)`, resources };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
