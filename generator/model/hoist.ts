/**
 * Stage 2b of the generator: name every nested object schema, and declare
 * identical ones once.
 *
 * A CRD's schema is one tree: without this stage a kind's type would be one
 * anonymous nested object, and a user could not write
 * `function render(spec: CertificateSpec)`. Each object schema with
 * properties inside a schema of the model (a kind's or a definition's)
 * becomes a schema of its own, referenced where it was, named after its
 * path:
 *
 * - a property: the parent's name + the property in PascalCase
 *   (`Certificate` → `CertificateSpec` → `CertificateSpecKeystores`);
 * - an array's items: the array property's name (`spec.steps[*]` →
 *   `PipelineSpecSteps`), at any depth of arrays;
 * - a map's values (`additionalProperties`): the map's name + `Value`.
 *
 * Structurally identical schemas (the same JSON below them, documentation
 * included; a schema's own description describes its use and stays on the
 * property) are declared once, under the name and in the folder of the first
 * one met, and imported by the others. "First" is a fixed order: kinds by
 * group, version and kind, then definitions by id; properties in schema
 * order, outer before inner. A name already taken in its folder gets `_2`,
 * `_3`, … in that order, so the output is the same from run to run.
 */
import { isObject, type Json, type JsonObject } from '../input/load.ts';
import { canonical, compare, REF_PREFIX, type Model, type SchemaEntry } from './model.ts';

/** What `hoist` adds to a schema entry it creates. */
export interface HoistedEntry extends SchemaEntry {
  /** The schema id whose folder this one lives in (the kind or definition it was first found in). */
  near: string;
  /** Its name, before making it unique in that folder. */
  name: string;
}

/** True for an entry `hoist` created. */
export function isHoisted(entry: SchemaEntry): entry is HoistedEntry {
  return typeof (entry as Partial<HoistedEntry>).near === 'string';
}

/** Keys that describe a schema's use at one place rather than the schema: they stay on the reference. */
const USE_SITE = ['description', 'default', 'deprecated', 'nullable', 'example'] as const;

/** Replaces nested object schemas in the model by named ones (see the module comment). Returns how many were created. */
export function hoist(model: Model): number {
  const kindBySchema = new Map(model.kinds.map((k) => [k.schemaId, k]));
  const roots = [
    ...model.kinds.map((k) => k.schemaId).filter((id) => model.schemas.has(id)),
    ...[...model.schemas.keys()].filter((id) => !kindBySchema.has(id)).sort(compare),
  ];
  const byBody = new Map<string, string>();
  const created: [number, string, HoistedEntry][] = [];
  /** The name each created schema was given (before it is made unique in its folder). */
  const names = new Map<string, string>();
  /** References to a schema first declared under another name, until their parent decides whether they get an alias. */
  const reused = new Map<JsonObject, { id: string; name: string; order: number; path: string }>();
  /** Readable, and safe in a `$ref` (a JSON pointer: no `/`, `~` or `#`). */
  const idOf = (rootId: string, path: string) => `${rootId}:${path}`.replace(/[/~#]/g, '.');
  let seq = 0;

  for (const rootId of [...new Set(roots)]) {
    const entry = model.schemas.get(rootId)!;
    const base = kindBySchema.get(rootId)?.kind ?? rootId.slice(rootId.lastIndexOf('.') + 1);

    /** The schema to put where `schema` was, its object schemas replaced by references. */
    const visit = (schema: Json, name: string, path: string): Json => {
      if (!isObject(schema) || typeof schema.$ref === 'string') return schema;
      if (isObject(schema.items)) return { ...schema, items: visit(schema.items, name, `${path}[*]`) };
      const props = isObject(schema.properties) ? schema.properties : undefined;
      const values = isObject(schema.additionalProperties) ? schema.additionalProperties : undefined;
      if (!props || !Object.keys(props).length || (schema.type !== undefined && schema.type !== 'object')) {
        return values ? { ...schema, additionalProperties: visit(values, `${name}Value`, `${path}.*`) } : schema;
      }
      const order = seq++;
      const body: JsonObject = {};
      for (const [k, v] of Object.entries(schema)) if (!(USE_SITE as readonly string[]).includes(k)) body[k] = v;
      body.properties = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, visit(v, `${name}${pascal(k)}`, `${path}.${k}`)]));
      if (values) body.additionalProperties = visit(values, `${name}Value`, `${path}.*`);
      const key = canonical(body);
      let id = byBody.get(key);
      const shared = id !== undefined;
      if (id === undefined) {
        id = idOf(rootId, path);
        byBody.set(key, id);
        const doc: JsonObject = typeof schema.description === 'string' ? { description: schema.description } : {};
        created.push([order, id, { schema: { ...doc, ...body }, origin: entry.origin, near: rootId, name }]);
        names.set(id, name);
        // Children declared elsewhere first get their name here too, as an alias, unless this whole object is shared.
        aliasChildren(body.properties as JsonObject, path);
      }
      const use: JsonObject = {};
      for (const k of USE_SITE) if (schema[k] !== undefined && k !== 'nullable') use[k] = schema[k];
      const ref: JsonObject = { $ref: `${REF_PREFIX}${id}` };
      if (shared && names.get(id) !== name) reused.set(ref, { id, name, order, path });
      // A nullable reference keeps `| null` through a one-item allOf (a bare $ref takes no siblings).
      return schema.nullable === true ? { ...use, nullable: true, allOf: [ref] } : Object.assign(ref, use);
    };

    /**
     * A property whose object is a type first declared under another name
     * (`Issuer.spec`, the same as `ClusterIssuer.spec`) refers to it through
     * an alias with its own name (`type IssuerSpec = ClusterIssuerSpec`): the
     * topmost shared object of each path gets one, so that every kind has
     * its `…Spec` and `…Status`.
     */
    const aliasChildren = (properties: JsonObject, path: string) => {
      for (const value of Object.values(properties)) {
        if (!isObject(value)) continue;
        const ref = Array.isArray(value.allOf) && isObject(value.allOf[0]) ? value.allOf[0] : value;
        const r = reused.get(ref);
        if (!r) continue;
        reused.delete(ref);
        const aliasId = idOf(rootId, r.path);
        created.push([r.order, aliasId, { schema: { $ref: `${REF_PREFIX}${r.id}` }, origin: entry.origin, near: rootId, name: r.name }]);
        names.set(aliasId, r.name);
        ref.$ref = `${REF_PREFIX}${aliasId}`;
      }
      void path;
    };

    const root = entry.schema;
    if (!isObject(root.properties)) continue;
    const properties = Object.fromEntries(Object.entries(root.properties).map(([k, v]) => [k, visit(v, `${base}${pascal(k)}`, k)]));
    aliasChildren(properties, '');
    reused.clear();
    model.schemas.set(rootId, { ...entry, schema: { ...root, properties } });
  }
  // Declared in the order they were met, outer before inner, so that names are claimed in that order.
  created.sort((a, b) => a[0] - b[0]);
  for (const [, id, e] of created) model.schemas.set(id, e);
  return created.length;
}

/** `fooBar` → `FooBar`, `x-foo.bar` → `XFooBar`; empty → `Field`. */
export function pascal(name: string): string {
  const words = name.split(/[^A-Za-z0-9]+/).filter(Boolean);
  const out = words.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
  return out || 'Field';
}
