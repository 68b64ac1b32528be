/**
 * Stage 5 of the generator: the fields `prune` and `keep` can name, per kind.
 * They reach two levels deep: every top-level field, and every field of a
 * top-level field that is an object with known properties (`metadata`,
 * `spec`, `status`, …). Maps, arrays and objects that keep unknown fields
 * can only be named whole. The same layout drives the `…Fields` type the
 * compiler checks specs against and the straight-line projection code, so
 * the two cannot disagree.
 */
import { isObject, type Json, type JsonObject } from './load.ts';
import { REF_PREFIX, type Model } from './model.ts';
import type { PlacedKind } from './place.ts';
import { prepareSchema } from './types.ts';

/** One field of the projection; flags are indexes into the plan's boolean array. */
export interface FieldLayout {
  name: string;
  /** The flag that says whether the field is in the result. */
  flag: number;
  /** For an object with known properties: the flag that says whether it is rebuilt from its children. */
  rebuild?: number;
  children?: { name: string; flag: number }[];
}

export interface KindLayout {
  fields: FieldLayout[];
  /** Number of flags: the length of the plan. */
  flags: number;
}

/** The layout of each kind, by schema id. */
export function layoutKinds(model: Model, kinds: PlacedKind[]): Map<string, KindLayout> {
  const out = new Map<string, KindLayout>();
  for (const k of kinds) {
    const entry = model.schemas.get(k.schemaId);
    if (!entry) continue;
    const root = prepareSchema(entry.schema, { apiVersion: k.apiVersion, kind: k.kind });
    out.set(k.schemaId, layoutOf(root, model));
  }
  return out;
}

function layoutOf(root: JsonObject, model: Model): KindLayout {
  let n = 0;
  const fields: FieldLayout[] = [];
  for (const [name, schema] of Object.entries(isObject(root.properties) ? root.properties : {})) {
    const field: FieldLayout = { name, flag: n++ };
    const children = knownProperties(schema, model);
    if (children?.length) {
      field.rebuild = n++;
      field.children = children.map((c) => ({ name: c, flag: n++ }));
    }
    fields.push(field);
  }
  return { fields, flags: n };
}

/**
 * The property names of a schema that is an object with known properties and
 * nothing else (no index signature, no union), following `$ref`s and
 * single-item `allOf` wrappers; otherwise undefined.
 */
function knownProperties(input: Json, model: Model, depth = 0): string[] | undefined {
  if (!isObject(input) || depth > 8) return undefined;
  const s = prepareSchema(input);
  if (typeof s.$ref === 'string' && s.$ref.startsWith(REF_PREFIX)) {
    const target = model.schemas.get(s.$ref.slice(REF_PREFIX.length));
    return target ? knownProperties(target.schema, model, depth + 1) : undefined;
  }
  if (Array.isArray(s.allOf) && s.allOf.length === 1 && !s.properties && !s.type) return knownProperties(s.allOf[0]!, model, depth + 1);
  if (s.allOf || s.anyOf || s.oneOf || s.additionalProperties || s.items) return undefined;
  if (s.type !== undefined && s.type !== 'object') return undefined;
  if (!isObject(s.properties) || !Object.keys(s.properties).length) return undefined;
  return Object.keys(s.properties);
}
