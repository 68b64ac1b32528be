/**
 * Stage 5 of the generator: each kind's `Shape`, what its `prune` and `keep`
 * need at run time beyond the spec. A spec names fields at any depth and
 * goes through arrays by itself; what it cannot say is whether an object
 * below it is a map (`additionalProperties`), whose every value the spec
 * applies to, or an object with fields. The shape lists the paths to maps
 * whose values have fields, as a small graph (recursive schemas stay
 * finite); for most kinds it is empty. The rule for "a map" and "has
 * fields" is the one the types use (`Inner` in the runtime's
 * `projection.ts`), so types and run time cannot disagree.
 *
 * Nodes are numbered in the order of their paths (fields sorted, a node
 * reached by several paths numbered at the first), so the numbers do not
 * depend on the order of properties in a schema, and a new map renumbers
 * only the nodes whose paths sort after it. Each node keeps that path for
 * the comment the module shows beside it.
 *
 * Beside the shape, the kind's top-level field names: the runtime refuses a
 * spec (from JavaScript, or through a cast) that names another field there,
 * or one `ObjectMeta` lacks in `metadata` (it carries those itself). Only
 * the top level: the field names of every object would add about a fifth to
 * the generated code of the core kinds.
 */
import { isObject, type Json, type JsonObject } from '../input/load.ts';
import { compare, OBJECT_META, REF_PREFIX, type Model } from '../model/model.ts';
import type { PlacedKind } from '../model/place.ts';
import { prepareSchema } from './schema-types.ts';

/** An object node lists `[field, node]`, fields sorted; a map node is the node of its values. */
export type ShapeNode = number | [string, number][];

/** Node 0 is the kind. */
export interface KindShape {
  nodes: ShapeNode[];
  /** The path each node is numbered at: `''` for the kind, `spec.stages` for a map, `spec.stages.*` for its values. */
  paths: string[];
  /**
   * The kind's top-level fields, sorted; none when its top level preserves
   * unknown fields or its `metadata` is not `ObjectMeta` (nothing is checked
   * then, as for a module generated before field lists).
   */
  fields?: string[];
}

/** The shape of each kind, by schema id. */
export function shapeKinds(model: Model, kinds: PlacedKind[]): Map<string, KindShape> {
  const out = new Map<string, KindShape>();
  for (const k of kinds) {
    const entry = model.schemas.get(k.schemaId);
    if (!entry) continue;
    const root = prepareSchema(entry.schema, { apiVersion: k.apiVersion, kind: k.kind });
    const fields = topLevelFields(root, model);
    out.set(k.schemaId, { ...shapeOf(root, model), ...(fields ? { fields } : {}) });
  }
  return out;
}

/** What a spec may name at the top level of the kind whose prepared schema is `root`, when the runtime can check it. */
function topLevelFields(root: JsonObject, model: Model): string[] | undefined {
  const props = isObject(root.properties) ? root.properties : {};
  if (root['x-kubernetes-preserve-unknown-fields'] === true) return undefined;
  if (props.metadata !== undefined) {
    const meta = resolve(props.metadata, model);
    if (meta.kind !== 'object' || meta.id !== OBJECT_META) return undefined;
  }
  return Object.keys(props).sort(compare);
}

type Resolved = { kind: 'object'; props: [string, JsonObject][]; id?: string } | { kind: 'map'; values: JsonObject; id?: string } | { kind: 'leaf' };

/**
 * What a field's schema is to a spec, through arrays, `$ref`s and single
 * `allOf` wrappers: an object with fields, a map, or a leaf (named whole only).
 */
function resolve(input: Json, model: Model, id?: string, depth = 0): Resolved {
  if (!isObject(input) || depth > 32) return { kind: 'leaf' };
  const s = input;
  if (typeof s.$ref === 'string' && s.$ref.startsWith(REF_PREFIX)) {
    const target = s.$ref.slice(REF_PREFIX.length);
    const entry = model.schemas.get(target);
    return entry ? resolve(prepareSchema(entry.schema), model, target, depth + 1) : { kind: 'leaf' };
  }
  if (isObject(s.items)) return resolve(s.items, model, undefined, depth + 1);
  if (Array.isArray(s.allOf) && s.allOf.length === 1 && !s.properties && !s.additionalProperties) return resolve(s.allOf[0]!, model, id, depth + 1);
  if (s.allOf || s.anyOf || s.oneOf) return { kind: 'leaf' };
  const props = isObject(s.properties) ? Object.entries(s.properties).filter((e): e is [string, JsonObject] => isObject(e[1])) : [];
  if (props.length) return { kind: 'object', props, ...(id ? { id } : {}) };
  if (isObject(s.additionalProperties)) return { kind: 'map', values: s.additionalProperties, ...(id ? { id } : {}) };
  return { kind: 'leaf' };
}

function shapeOf(root: JsonObject, model: Model): KindShape {
  const top: Resolved = {
    kind: 'object',
    props: Object.entries(isObject(root.properties) ? root.properties : {}).filter((e): e is [string, JsonObject] => isObject(e[1])),
  };
  const hasFields = (r: Resolved, depth = 0): boolean =>
    r.kind === 'object' || (r.kind === 'map' && depth < 32 && hasFields(resolve(r.values, model), depth + 1));

  // Which named schemas have a map with fielded values below them: a fixpoint, so that recursive schemas settle.
  const named = new Map<string, Resolved & { kind: 'object' }>();
  const seen = new Set<string>();
  const collect = (r: Resolved): void => {
    if (r.kind === 'leaf') return;
    if (r.id !== undefined) {
      if (seen.has(`${r.kind}:${r.id}`)) return;
      seen.add(`${r.kind}:${r.id}`);
    }
    if (r.kind === 'map') {
      collect(resolve(r.values, model));
      return;
    }
    if (r.id !== undefined) named.set(r.id, r);
    for (const [, p] of r.props) collect(resolve(p, model));
  };
  collect(top);
  const needs = new Map<string, boolean>();
  const needed = (r: Resolved): boolean => {
    if (r.kind === 'leaf') return false;
    if (r.kind === 'map') return hasFields(resolve(r.values, model));
    if (r.id !== undefined) return needs.get(r.id) ?? false;
    return r.props.some(([, p]) => needed(resolve(p, model)));
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (const [id, r] of named) {
      if (needs.get(id)) continue;
      if (r.props.some(([, p]) => needed(resolve(p, model)))) needs.set(id, (changed = true));
    }
  }
  if (!needed(top)) return { nodes: [], paths: [] };

  // Depth first, fields in sorted order: a node's number is its rank in path order.
  const nodes: ShapeNode[] = [];
  const paths: string[] = [];
  const byId = new Map<string, number>();
  const emit = (r: Resolved, path: string): number => {
    const key = r.kind !== 'leaf' && r.id !== undefined ? `${r.kind}:${r.id}` : undefined;
    if (key !== undefined && byId.has(key)) return byId.get(key)!;
    const index = nodes.length;
    nodes.push([]);
    paths.push(path);
    if (key !== undefined) byId.set(key, index);
    if (r.kind === 'map') nodes[index] = emit(resolve(r.values, model), `${path}.*`);
    else if (r.kind === 'object') {
      const fields: [string, number][] = [];
      for (const [name, p] of [...r.props].sort(([a], [b]) => compare(a, b))) {
        const child = resolve(p, model);
        if (needed(child)) fields.push([name, emit(child, path ? `${path}.${name}` : name)]);
      }
      nodes[index] = fields;
    }
    return index;
  };
  emit(top, '');
  return { nodes, paths };
}
