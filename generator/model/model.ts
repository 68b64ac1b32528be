/**
 * Stage 2 of the generator: normalise the sources into one model of kinds.
 * A kind is a resource the server serves (group, version, kind, plural,
 * scope, verbs, subresources) plus the id of its schema; schemas are kept by
 * id with `$ref`s of the form `#/components/schemas/<id>`, whatever document
 * they came from. Two inputs that define one kind (or one schema)
 * differently are an error naming both.
 *
 * For OpenAPI documents, the resources come from the paths: each operation's
 * `x-kubernetes-action` gives a verb, the path's shape gives the plural, the
 * scope (a `namespaces/{namespace}/` segment) and subresources
 * (`{name}/status`), and `x-kubernetes-group-version-kind` ties it to a schema.
 * API discovery, when loaded from a cluster, overrides what the paths say.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GenerateError, type GenerateWarning } from '../errors.ts';
import { filterKinds } from './filter.ts';
import {
  EMBEDDED_OPENAPI,
  isObject,
  type CrdSource,
  type DiscoveredResource,
  type Json,
  type JsonObject,
  type OpenApiSource,
  type Source,
} from '../input/load.ts';

/** `$ref` prefix of every schema reference in the model. */
export const REF_PREFIX = '#/components/schemas/';
/** The id of `ObjectMeta`, which every kind's `metadata` is. */
export const OBJECT_META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';

/** One resource kind. */
export interface KindModel {
  /** `''` for the core group. */
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  /** Sorted discovery verbs: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`. */
  verbs: string[];
  /** Sorted subresource names, e.g. `scale`, `status`. */
  subresources: string[];
  /** The id of the kind's schema in `Model.schemas`. */
  schemaId: string;
  /** Where the kind was defined, to the line for a CRD: for messages. */
  origin: string;
  /** The file (or URL) the kind was defined in, without a line: for generated headers. */
  from: string;
}

/** A schema and where it came from. */
export interface SchemaEntry {
  schema: JsonObject;
  origin: string;
}

export interface Model {
  /** Sorted by group, version and kind. */
  kinds: KindModel[];
  schemas: Map<string, SchemaEntry>;
  warnings: GenerateWarning[];
}

export interface ModelOptions {
  /**
   * `group/version/kind` patterns (`*` wildcards, `core` for the core group) a kind must match; default all.
   * One that matches no kind is an error (`model/filter.ts`).
   */
  include?: string[];
  /** `group/version/kind` patterns of kinds to leave out; leaving out every kind is an error. */
  exclude?: string[];
}

/** Builds the model: every kind of every source, filtered, with the schemas they need. */
export function buildModel(sources: Source[], opts: ModelOptions = {}): Model {
  const b = new ModelBuilder();
  for (const s of sources) if (s.type === 'openapi') b.addOpenApi(s);
  for (const s of sources) if (s.type === 'crd') b.addCrd(s);
  for (const s of sources) if (s.type === 'discovery') b.applyDiscovery(s.resources);
  const all = [...b.kinds.values()].sort((a, b) => compare(kindKey(a), kindKey(b)));
  const kinds = filterKinds(all, opts.include, opts.exclude);
  const schemas = closure(kinds, b.schemas);
  return { kinds, schemas, warnings: b.warnings };
}

/** `group/version/Kind`, with `core` for the core group. */
export function kindKey(k: Pick<KindModel, 'group' | 'version' | 'kind'>): string {
  return `${k.group || 'core'}/${k.version}/${k.kind}`;
}

class ModelBuilder {
  readonly kinds = new Map<string, KindModel>();
  readonly schemas = new Map<string, SchemaEntry>();
  readonly warnings: GenerateWarning[] = [];

  addOpenApi(source: OpenApiSource): void {
    const doc = source.version === 2 ? v2ToV3(source.doc) : source.doc;
    const schemas = ((doc.components as JsonObject | undefined)?.schemas ?? {}) as JsonObject;
    for (const id of Object.keys(schemas).sort()) {
      const schema = schemas[id];
      if (isObject(schema)) this.addSchema(id, schema, source.origin);
    }
    const byGvk = schemasByGvk(schemas);
    for (const r of resourcesOfPaths((doc.paths ?? {}) as JsonObject)) {
      const schemaId = byGvk.get(`${r.group}/${r.version}/${r.kind}`);
      if (!schemaId) continue; // e.g. a resource whose schema lives in another document
      this.addKind({ ...r, schemaId, origin: source.origin, from: source.origin }, schemas[schemaId] as JsonObject);
    }
  }

  addCrd(source: CrdSource): void {
    for (const k of kindsOfCrd(source, this.warnings)) this.addKind(k.kind, k.schema, k.schema);
  }

  applyDiscovery(resources: DiscoveredResource[]): void {
    for (const r of resources) {
      const existing = this.kinds.get(kindKey(r));
      if (!existing) continue;
      Object.assign(existing, { plural: r.plural, namespaced: r.namespaced, verbs: r.verbs, subresources: r.subresources });
    }
  }

  private addSchema(id: string, schema: JsonObject, origin: string): void {
    const existing = this.schemas.get(id);
    if (!existing) {
      this.schemas.set(id, { schema, origin });
      return;
    }
    if (canonical(existing.schema) === canonical(schema)) return;
    // Since 1.35 each group-version document lists, on a shared schema such as
    // DeleteOptions, only its own group's registrations: the same definition.
    const { [GVK]: ours, ...rest } = schema;
    const { [GVK]: theirs, ...existingRest } = existing.schema;
    if (canonical(rest) !== canonical(existingRest)) {
      throw new GenerateError(`schema ${id} is defined differently here and in ${existing.origin}`, origin);
    }
    const union = new Map([...asArray(theirs), ...asArray(ours)].map((g) => [canonical(g), g]));
    existing.schema = { ...existing.schema, [GVK]: [...union].sort(([a], [b]) => compare(a, b)).map(([, g]) => g) };
  }

  /**
   * Adds a kind; a CRD's own schema (`ownSchema`) is stored under its id. A
   * CRD replaces the same kind read from an OpenAPI document (it says more:
   * scope, subresources, every served version); two definitions of one kind
   * from inputs of the same sort must agree.
   */
  private addKind(kind: KindModel, schema: JsonObject, ownSchema?: JsonObject): void {
    const key = kindKey(kind);
    const existing = this.kinds.get(key);
    const fromCrd = kind.schemaId.startsWith('crd:');
    if (existing && fromCrd === existing.schemaId.startsWith('crd:')) {
      const a = this.schemas.get(existing.schemaId)?.schema;
      const same = existing.plural === kind.plural && existing.namespaced === kind.namespaced && canonical(a) === canonical(schema);
      if (!same) throw new GenerateError(`kind ${key} is defined differently here and in ${existing.origin}`, kind.origin);
      return;
    }
    if (existing && !fromCrd) return; // an OpenAPI document repeating a kind a CRD defines
    if (ownSchema) this.schemas.set(kind.schemaId, { schema: ownSchema, origin: kind.origin });
    this.kinds.set(key, kind);
  }
}

// ---------------------------------------------------------------------------
// OpenAPI paths → resources

interface PathResource {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  verbs: string[];
  subresources: string[];
}

const ACTION_VERBS: Record<string, string> = {
  list: 'list',
  post: 'create',
  put: 'update',
  patch: 'patch',
  delete: 'delete',
  deletecollection: 'deletecollection',
  watch: 'watch',
  watchlist: 'watch',
};
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

/** The resources the paths of one document serve. */
export function resourcesOfPaths(paths: JsonObject): PathResource[] {
  interface Acc {
    namespaced: boolean;
    verbs: Set<string>;
    subresources: Set<string>;
    gvks: Map<string, number>;
  }
  const acc = new Map<string, Acc>();
  for (const path of Object.keys(paths).sort()) {
    const shape = parsePath(path);
    const item = paths[path];
    if (!shape || !isObject(item)) continue;
    const key = `${shape.group}/${shape.version}/${shape.plural}`;
    const a = acc.get(key) ?? { namespaced: false, verbs: new Set(), subresources: new Set(), gvks: new Map() };
    acc.set(key, a);
    if (shape.namespaced) a.namespaced = true;
    if (shape.subresource) {
      a.subresources.add(shape.subresource);
      continue;
    }
    for (const method of METHODS) {
      const op = item[method];
      if (!isObject(op)) continue;
      const action = op['x-kubernetes-action'];
      if (typeof action !== 'string' || action === 'connect') continue;
      const verb = action === 'get' ? (shape.named ? 'get' : 'list') : ACTION_VERBS[action];
      if (!verb) continue;
      a.verbs.add(verb);
      if (verb === 'list' && hasWatchParameter(item, op)) a.verbs.add('watch');
      const gvk = op['x-kubernetes-group-version-kind'];
      if (isObject(gvk) && typeof gvk.kind === 'string') {
        const g = `${String(gvk.group ?? '')}/${String(gvk.version)}/${gvk.kind}`;
        a.gvks.set(g, (a.gvks.get(g) ?? 0) + 1);
      }
    }
  }
  const byKind = new Map<string, PathResource>();
  for (const [key, a] of [...acc].sort(([x], [y]) => compare(x, y))) {
    const plural = key.slice(key.lastIndexOf('/') + 1);
    // The kind a resource serves is the one most of its operations name.
    const gvk = [...a.gvks].sort(([x, n], [y, m]) => m - n || compare(x, y))[0]?.[0];
    if (!gvk || !a.verbs.size) continue;
    const [group, version, kind] = gvk.split('/') as [string, string, string];
    const r: PathResource = { group, version, kind, plural, namespaced: a.namespaced, verbs: [...a.verbs].sort(), subresources: [...a.subresources].sort() };
    const prev = byKind.get(gvk);
    // A kind served by two resources: keep the one with more verbs (then the first plural).
    if (!prev || r.verbs.length > prev.verbs.length) byKind.set(gvk, r);
  }
  return [...byKind.values()];
}

function hasWatchParameter(item: JsonObject, op: JsonObject): boolean {
  const params = [...((item.parameters as Json[]) ?? []), ...((op.parameters as Json[]) ?? [])];
  return params.some((p) => isObject(p) && p.name === 'watch' && p.in === 'query');
}

interface PathShape {
  group: string;
  version: string;
  plural: string;
  namespaced: boolean;
  named: boolean;
  subresource?: string;
}

/** `/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale` → apps, v1, deployments, namespaced, named, `scale`. */
export function parsePath(path: string): PathShape | undefined {
  const segs = path.split('/').filter(Boolean);
  let group: string;
  let version: string;
  let rest: string[];
  if (segs[0] === 'api' && segs.length >= 2) [group, version, rest] = ['', segs[1]!, segs.slice(2)];
  else if (segs[0] === 'apis' && segs.length >= 3) [group, version, rest] = [segs[1]!, segs[2]!, segs.slice(3)];
  else return undefined;
  if (rest[0] === 'watch') return undefined; // deprecated watch paths; `watch` is a parameter of list
  let namespaced = false;
  if (rest[0] === 'namespaces' && rest[1] === '{namespace}' && rest.length >= 3) {
    namespaced = true;
    rest = rest.slice(2);
  }
  const plural = rest[0];
  if (!plural || plural.startsWith('{')) return undefined;
  if (rest.length === 1) return { group, version, plural, namespaced, named: false };
  if (rest[1] !== '{name}') return undefined;
  if (rest.length === 2) return { group, version, plural, namespaced, named: true };
  return { group, version, plural, namespaced, named: true, subresource: rest[2]! };
}

/** Schema ids by the `group/version/kind` of their `x-kubernetes-group-version-kind`; schemas claiming one kind win. */
function schemasByGvk(schemas: JsonObject): Map<string, string> {
  const out = new Map<string, { id: string; claims: number }>();
  for (const id of Object.keys(schemas).sort()) {
    const s = schemas[id];
    const gvks = isObject(s) ? s['x-kubernetes-group-version-kind'] : undefined;
    if (!Array.isArray(gvks)) continue;
    for (const g of gvks) {
      if (!isObject(g)) continue;
      const key = `${String(g.group ?? '')}/${String(g.version)}/${String(g.kind)}`;
      const prev = out.get(key);
      if (!prev || gvks.length < prev.claims) out.set(key, { id, claims: gvks.length });
    }
  }
  return new Map([...out].map(([k, v]) => [k, v.id]));
}

/** A v2 document in v3 form: `definitions` under `components.schemas`, refs rewritten, `x-nullable` as `nullable`. */
function v2ToV3(doc: JsonObject): JsonObject {
  const rewrite = (v: Json): Json => {
    if (Array.isArray(v)) return v.map(rewrite);
    if (!isObject(v)) return v;
    const out: JsonObject = {};
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string') out[k] = x.replace(/^#\/definitions\//, REF_PREFIX);
      else if (k === 'x-nullable') out.nullable = x;
      else out[k] = rewrite(x);
    }
    return out;
  };
  return { paths: doc.paths ?? {}, components: { schemas: rewrite(doc.definitions ?? {}) } };
}

// ---------------------------------------------------------------------------
// CRDs → kinds

/** The kinds of a CRD: one per served version. */
function kindsOfCrd(source: CrdSource, warnings: GenerateWarning[]): { kind: KindModel; schema: JsonObject }[] {
  const { crd, origin, from } = source;
  const spec = crd.spec;
  if (!isObject(spec)) throw new GenerateError('CustomResourceDefinition has no spec', origin);
  const names = spec.names;
  const group = spec.group;
  if (typeof group !== 'string' || !group) throw new GenerateError('CustomResourceDefinition has no spec.group', origin);
  if (!isObject(names) || typeof names.kind !== 'string' || typeof names.plural !== 'string') {
    throw new GenerateError('CustomResourceDefinition needs spec.names.kind and spec.names.plural', origin);
  }
  if (spec.scope !== 'Namespaced' && spec.scope !== 'Cluster') {
    throw new GenerateError(`spec.scope must be Namespaced or Cluster, not ${JSON.stringify(spec.scope)}`, origin);
  }
  const versions = spec.versions;
  if (!Array.isArray(versions) || !versions.length) throw new GenerateError('CustomResourceDefinition has no spec.versions', origin);
  const out: { kind: KindModel; schema: JsonObject }[] = [];
  for (const [i, v] of versions.entries()) {
    if (!isObject(v) || typeof v.name !== 'string') throw new GenerateError(`spec.versions[${i}] has no name`, origin);
    if (v.served === false) continue;
    const subresources = Object.keys(isObject(v.subresources) ? v.subresources : {}).sort();
    const kind: KindModel = {
      group,
      version: v.name,
      kind: names.kind,
      plural: names.plural,
      namespaced: spec.scope === 'Namespaced',
      verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
      subresources,
      schemaId: `crd:${group}/${v.name}/${names.kind}`,
      origin,
      from,
    };
    const raw = isObject(v.schema) ? v.schema.openAPIV3Schema : undefined;
    let schema: JsonObject;
    if (isObject(raw)) schema = crdRootSchema(raw);
    else {
      warnings.push({ where: origin, message: `version ${v.name} of ${names.kind} has no schema: its spec and status are typed unknown` });
      schema = crdRootSchema({ type: 'object', properties: { spec: {}, status: {} } });
    }
    out.push({ kind, schema });
  }
  return out;
}

/** A CRD's `openAPIV3Schema` as a kind's schema: `metadata` is the real `ObjectMeta`. */
function crdRootSchema(raw: JsonObject): JsonObject {
  const { apiVersion, kind, metadata, ...rest } = isObject(raw.properties) ? raw.properties : {};
  const meta = isObject(metadata) ? metadata : {};
  const properties: JsonObject = {
    apiVersion: apiVersion ?? { type: 'string' },
    kind: kind ?? { type: 'string' },
    metadata: { ...(typeof meta.description === 'string' ? { description: meta.description } : {}), allOf: [{ $ref: `${REF_PREFIX}${OBJECT_META}` }] },
    ...rest,
  };
  return { ...raw, type: 'object', properties };
}

// ---------------------------------------------------------------------------
// The closure of referenced schemas

/** The schemas the kinds reach through `$ref`s; a ref to `ObjectMeta`'s family falls back to the embedded OpenAPI. */
function closure(kinds: KindModel[], all: Map<string, SchemaEntry>): Map<string, SchemaEntry> {
  const out = new Map<string, SchemaEntry>();
  const todo = kinds.map((k) => ({ id: k.schemaId, from: k.origin }));
  let embedded: Map<string, SchemaEntry> | undefined;
  while (todo.length) {
    const { id, from } = todo.pop()!;
    if (out.has(id)) continue;
    let entry = all.get(id);
    if (!entry) {
      embedded ??= embeddedSchemas();
      entry = embedded.get(id);
    }
    if (!entry) throw new GenerateError(`unresolved $ref to ${id}`, from);
    out.set(id, entry);
    for (const ref of refsOf(entry.schema)) todo.push({ id: ref, from: entry.origin });
  }
  return new Map([...out].sort(([a], [b]) => compare(a, b)));
}

/** The schema ids `schema` refers to. */
export function refsOf(schema: Json, into = new Set<string>()): Set<string> {
  if (Array.isArray(schema)) for (const v of schema) refsOf(v, into);
  else if (isObject(schema)) {
    for (const [k, v] of Object.entries(schema)) {
      if (k === '$ref' && typeof v === 'string' && v.startsWith(REF_PREFIX)) into.add(v.slice(REF_PREFIX.length));
      else if (typeof v === 'object') refsOf(v, into);
    }
  }
  return into;
}

/** The schemas of the embedded core document: where `ObjectMeta` comes from when only CRDs are given. */
function embeddedSchemas(): Map<string, SchemaEntry> {
  const file = join(EMBEDDED_OPENAPI, 'v3', 'api', 'v1.json');
  const doc = JSON.parse(readFileSync(file, 'utf8')) as JsonObject;
  const schemas = ((doc.components as JsonObject).schemas ?? {}) as JsonObject;
  const version = (doc.info as JsonObject | undefined)?.version;
  const origin = `the embedded OpenAPI of kube-apiserver${typeof version === 'string' ? ` v${version}` : ''}`;
  return new Map(Object.entries(schemas).map(([id, schema]) => [id, { schema: schema as JsonObject, origin }]));
}

const GVK = 'x-kubernetes-group-version-kind';
const asArray = (v: Json | undefined): Json[] => (Array.isArray(v) ? v : []);

/** JSON with sorted keys, for comparing definitions. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (isObject(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => compare(a, b))) : v));
}

export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
