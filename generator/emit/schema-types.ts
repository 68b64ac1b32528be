/**
 * Stage 4 of the generator: convert schemas to TypeScript declarations.
 * openapi-typescript's `transformSchemaObject` does the conversion; this file
 * prepares each schema so that it says what Kubernetes means, and rewrites
 * the result where openapi-typescript's reading differs:
 *
 * - `x-kubernetes-int-or-string` and `format: int-or-string` → `number | string`;
 * - `x-kubernetes-preserve-unknown-fields` and free-form objects →
 *   `{ [key: string]: unknown }` (or `unknown` without a type), never `Record<string, never>`;
 * - `x-kubernetes-embedded-resource` → `apiVersion`, `kind` and a real `ObjectMeta`;
 * - validation-only `oneOf`/`anyOf`/`allOf` (a structural schema's) are left
 *   out; those that carry types become unions and intersections;
 * - properties with defaults stay optional unless required;
 * - a kind's `apiVersion` and `kind` are literal types.
 *
 * References become names, imported from the module that declares them (see
 * `place.ts`); the output is one list of declarations per module.
 */
import ts from 'typescript';
import { astToString, transformSchemaObject, tsLiteral, type GlobalContext, type SchemaObject } from 'openapi-typescript';
import { GenerateError } from '../errors.ts';
import { isObject, type Json, type JsonObject } from '../input/load.ts';
import { OBJECT_META, REF_PREFIX, type Model } from '../model/model.ts';
import { NameScope, sanitiseCommentText } from '../model/names.ts';
import type { Placed, Placement, PlacedKind } from '../model/place.ts';

/** Marks a schema that must become a literal type (a kind's apiVersion and kind). */
const LITERAL = 'x-kubereflect-literal';
/** Holds a property's documentation, so that openapi-typescript writes none and ours is used. */
const DOC = 'x-kubereflect-doc';

/**
 * `Time` and `MicroTime` marshal their zero value as `null`: the server sends
 * it (a core/v1 Event created without `eventTime` comes back with
 * `"eventTime": null`) and kubectl writes `creationTimestamp: null`. Their
 * types say so.
 */
const ZERO_TIME_IS_NULL = new Set(['io.k8s.apimachinery.pkg.apis.meta.v1.Time', 'io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime']);
const ZERO_TIME_DOC =
  "`null` is the zero time: the server writes it for an unset time that is not omitted (e.g. a core/v1 Event's `eventTime`), and kubectl writes `creationTimestamp: null`.";

/** One exported declaration. */
export interface Declaration {
  name: string;
  /** The schema's documentation (comment-safe text), if any. */
  description: string | undefined;
  /** `interface Name { … }` or `type Name = …;`, printed by the TypeScript printer, without `export` or doc comment. */
  code: string;
}

/** The type side of one module: its imports and declarations. */
export interface TypeModule {
  /** `core/v1/types` or `core/v1/pod`. */
  path: string;
  /** Import specifier (relative, with `.ts`) → imported name → local name. */
  imports: Map<string, Map<string, string>>;
  declarations: Declaration[];
}

/** Converts every placed schema; kinds' declarations go to their kind module, the rest to `types` modules. */
export function convertTypes(model: Model, placement: Placement): Map<string, TypeModule> {
  const modules = new Map<string, TypeModule>();
  const scopes = new Map<string, NameScope>();
  const kindsBySchema = new Map<string, PlacedKind>(placement.kinds.map((k) => [k.schemaId, k]));
  // Names each module declares are reserved before any import is named.
  for (const k of placement.kinds) {
    reserve(scopes, `${k.dir}/${k.file}`, ['$', k.name, k.metaName, k.apiName, k.methodsName]);
  }
  for (const [id, p] of placement.symbols) if (p.file === 'types' && model.schemas.has(id)) reserve(scopes, `${p.dir}/types`, [p.name]);

  for (const [id, placed] of placement.symbols) {
    const entry = model.schemas.get(id);
    if (!entry) continue;
    const path = `${placed.dir}/${placed.file}`;
    let mod = modules.get(path);
    if (!mod) modules.set(path, (mod = { path, imports: new Map(), declarations: [] }));
    const kind = kindsBySchema.get(id);
    let prepared = prepareSchema(entry.schema, kind ? { apiVersion: kind.apiVersion, kind: kind.kind } : undefined);
    if (ZERO_TIME_IS_NULL.has(id)) {
      const doc = typeof prepared[DOC] === 'string' ? `${prepared[DOC]}\n\n` : '';
      prepared = { ...prepared, nullable: true, [DOC]: `${doc}${ZERO_TIME_DOC}` };
    }
    const resolveRef = (ref: string) => importName(mod!, scopes.get(path)!, placement.symbols, ref, placed, entry.origin);
    try {
      mod.declarations.push(declare(placed.name, prepared, resolveRef, model));
    } catch (err) {
      if (err instanceof GenerateError) throw err;
      throw new GenerateError(`cannot convert schema ${id}: ${(err as Error).message}`, entry.origin, { cause: err });
    }
  }
  for (const mod of modules.values()) mod.declarations.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return modules;
}

function reserve(scopes: Map<string, NameScope>, path: string, names: string[]): void {
  let s = scopes.get(path);
  if (!s) scopes.set(path, (s = new NameScope()));
  for (const n of names) s.claim(n);
}

/** The local name of schema `id` in module `mod`, adding an import when it is declared elsewhere. */
function importName(mod: TypeModule, scope: NameScope, symbols: Map<string, Placed>, id: string, self: Placed, origin: string): string {
  const target = symbols.get(id);
  if (!target) throw new GenerateError(`unresolved $ref to ${id}`, origin);
  if (target.dir === self.dir && target.file === self.file) return target.name;
  const spec = relativeModule(self, target);
  let names = mod.imports.get(spec);
  if (!names) mod.imports.set(spec, (names = new Map()));
  const existing = names.get(target.name);
  if (existing) return existing;
  const local = scope.claim(target.name) ? target.name : scope.unique(target.name);
  names.set(target.name, local);
  return local;
}

/** `./types.ts` or `../../meta/v1/types.ts`, from the module of `from` to that of `to`. */
export function relativeModule(from: { dir: string }, to: { dir: string; file: string }): string {
  if (from.dir === to.dir) return `./${to.file}.ts`;
  const up = from.dir
    .split('/')
    .map(() => '..')
    .join('/');
  return `${up}/${to.dir}/${to.file}.ts`;
}

// ---------------------------------------------------------------------------
// Preparing schemas: what Kubernetes means, in a form openapi-typescript reads right

/**
 * A copy of `schema` corrected for Kubernetes (see the module comment). With
 * `root`, the schema is a kind's: `apiVersion` and `kind` become literals and
 * no index signature is added at the top level even when unknown fields are
 * preserved there (it would hide the known fields from pruning).
 */
export function prepareSchema(schema: Json, root?: { apiVersion: string; kind: string }): JsonObject {
  const out = prepare(schema);
  if (!root) return out;
  const properties = isObject(out.properties) ? { ...out.properties } : {};
  for (const [key, value] of [
    ['apiVersion', root.apiVersion],
    ['kind', root.kind],
  ] as const) {
    const p = isObject(properties[key]) ? properties[key] : {};
    properties[key] = { ...(typeof p[DOC] === 'string' ? { [DOC]: p[DOC] } : {}), type: 'string', [LITERAL]: value };
  }
  const { additionalProperties: _drop, ...rest } = out;
  return { ...rest, type: 'object', properties };
}

function prepare(input: Json): JsonObject {
  if (!isObject(input)) return {};
  const s: JsonObject = {};
  for (const [k, v] of Object.entries(input)) {
    if (k === 'nullable' || k === 'required' || k === 'enum' || k === 'type' || k === '$ref' || k.startsWith('x-kubernetes-')) s[k] = v;
  }
  // Documentation is kept apart, so openapi-typescript writes no JSDoc of its own (see `documentProperty`).
  const doc = docOf(input);
  const done = (t: JsonObject): JsonObject => (doc ? { ...t, [DOC]: doc } : t);

  if (s['x-kubernetes-int-or-string'] === true || input.format === 'int-or-string') {
    return done({ ...(s.nullable === true ? { nullable: true } : {}), oneOf: [{ type: 'integer' }, { type: 'string' }] });
  }
  if (typeof s.$ref === 'string') return done({ $ref: s.$ref });

  if (isObject(input.properties)) {
    s.properties = Object.fromEntries(Object.entries(input.properties).map(([k, v]) => [k, prepare(v)]));
  }
  if (isObject(input.items)) s.items = prepare(input.items);
  else if (Array.isArray(input.items)) s.items = input.items.map(prepare);
  if (isObject(input.additionalProperties))
    s.additionalProperties = Object.keys(input.additionalProperties).length ? prepare(input.additionalProperties) : true;
  else if (input.additionalProperties === true) s.additionalProperties = true;
  for (const k of ['allOf', 'anyOf', 'oneOf'] as const) {
    const list = input[k];
    if (Array.isArray(list) && list.some(carriesType)) s[k] = list.map(prepare);
  }

  if (s['x-kubernetes-embedded-resource'] === true) {
    s.type = 'object';
    s.properties = {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { allOf: [{ $ref: `${REF_PREFIX}${OBJECT_META}` }] },
      ...(isObject(s.properties) ? s.properties : {}),
    };
  }
  const hasShape = s.properties || s.additionalProperties || s.allOf || s.anyOf || s.oneOf || s.items;
  if (s['x-kubernetes-preserve-unknown-fields'] === true) {
    if (s.type === undefined && !hasShape) return done({});
    if (s.type === undefined || s.type === 'object') s.additionalProperties = s.additionalProperties ?? true;
  }
  if (s.type === 'object' && !hasShape) s.additionalProperties = true;
  if (s.enum !== undefined && (!Array.isArray(s.enum) || s.type === 'object' || s.type === 'array')) delete s.enum;
  // An enum is wrapped, so the property's own schema has none for openapi-typescript to document.
  if (Array.isArray(s.enum)) return done({ allOf: [{ ...s }] });
  return done(s);
}

/**
 * The documentation of a schema: its description, then what else the schema
 * says that a user writing an object should see — the CEL rules of
 * `x-kubernetes-validations` with their messages, the format, the pattern,
 * bounds, a default worth showing, and deprecation.
 */
function docOf(input: JsonObject): string | undefined {
  const lines: string[] = [];
  if (typeof input.description === 'string' && input.description.trim()) lines.push(sanitiseCommentText(input.description));
  const facts: string[] = [];
  if (typeof input.format === 'string' && input.format && input.format !== 'int-or-string') facts.push(`Format: \`${input.format}\`.`);
  if (typeof input.pattern === 'string') facts.push(`Pattern: \`${input.pattern.replace(/`/g, '\\`')}\`.`);
  const bound = (label: string, min: unknown, max: unknown, unit: string) => {
    const lo = typeof min === 'number' ? min : undefined;
    const hi = typeof max === 'number' ? max : undefined;
    if (lo === undefined && hi === undefined) return;
    facts.push(`${label}: ${lo === undefined ? `at most ${hi}` : hi === undefined ? `at least ${lo}` : `${lo} to ${hi}`}${unit}.`);
  };
  bound('Value', input.minimum, input.maximum, '');
  bound('Length', input.minLength, input.maxLength, ' characters');
  bound('Items', input.minItems, input.maxItems, '');
  bound('Properties', input.minProperties, input.maxProperties, '');
  if (facts.length) lines.push(sanitiseCommentText(facts.join(' ')));
  if (Array.isArray(input['x-kubernetes-validations'])) {
    const rules = input['x-kubernetes-validations'].filter(isObject).filter((v) => typeof v.rule === 'string');
    if (rules.length) {
      lines.push(
        [
          'Validation rules (CEL, checked by the server):',
          ...rules.map((v) => {
            const message = typeof v.message === 'string' ? v.message : typeof v.messageExpression === 'string' ? `(message: ${v.messageExpression})` : '';
            return `- \`${String(v.rule).replace(/\s+/g, ' ').replace(/`/g, '\\`')}\`${message ? `: ${message}` : ''}`;
          }),
        ]
          .map(sanitiseCommentText)
          .join('\n'),
      );
    }
  }
  const dflt = input.default;
  if (dflt !== undefined && !isEmptyDefault(dflt)) lines.push(`@default ${sanitiseCommentText(JSON.stringify(dflt))}`);
  if (input.deprecated === true) lines.push('@deprecated');
  return lines.length ? lines.join('\n\n') : undefined;
}

function isEmptyDefault(v: Json): boolean {
  return v === '' || (Array.isArray(v) && !v.length) || (isObject(v) && !Object.keys(v).length);
}

/** True when a schema in a composition says something about the type (not only validation, as in a structural schema). */
function carriesType(s: Json): boolean {
  if (!isObject(s)) return false;
  if (s.type !== undefined || s.properties || s.items || s.additionalProperties || s.$ref || s.enum || s.const !== undefined) return true;
  return (['allOf', 'anyOf', 'oneOf'] as const).some((k) => Array.isArray(s[k]) && (s[k] as Json[]).some(carriesType));
}

// ---------------------------------------------------------------------------
// Conversion and the rewrites after it

function declare(name: string, schema: JsonObject, resolveRef: (id: string) => string, model: Model): Declaration {
  const ctx = context(model);
  let type = transformSchemaObject(schema as unknown as SchemaObject, { path: `${REF_PREFIX}${name}`, ctx });
  if (ctx.injectFooter.length) throw new Error('the schema needs helper types openapi-typescript would add; this is not supported');
  type = rewrite(type, resolveRef);
  const description = typeof schema[DOC] === 'string' && schema[DOC] ? schema[DOC] : undefined;
  const decl = ts.isTypeLiteralNode(type)
    ? ts.factory.createInterfaceDeclaration(undefined, name, undefined, undefined, type.members)
    : ts.factory.createTypeAliasDeclaration(undefined, name, undefined, type);
  return { name, description, code: astToString(decl).trim() };
}

let cachedContext: { model: Model; ctx: GlobalContext } | undefined;

/** openapi-typescript's context: no enums, no `Record<string, never>`, defaults do not make properties required. */
function context(model: Model): GlobalContext {
  if (cachedContext?.model === model) {
    cachedContext.ctx.injectFooter.length = 0;
    return cachedContext.ctx;
  }
  const ctx = {
    additionalProperties: false,
    alphabetize: false,
    arrayLength: false,
    defaultNonNullable: false,
    discriminators: { objects: {}, refsHandled: [] },
    emptyObjectsUnknown: true,
    enum: false,
    enumValues: false,
    conditionalEnums: false,
    dedupeEnums: false,
    excludeDeprecated: false,
    exportType: false,
    immutable: false,
    injectFooter: [],
    pathParamsAsTypes: false,
    postTransform: undefined,
    propertiesRequiredByDefault: false,
    rootTypes: false,
    rootTypesNoSchemaPrefix: false,
    rootTypesKeepCasing: false,
    redoc: undefined as never,
    silent: true,
    transform: literalTransform,
    transformProperty: documentProperty,
    makePathsEnum: false,
    generatePathParams: false,
    readWriteMarkers: false,
    resolve<T>(ref: string): T | undefined {
      const id = ref.startsWith(REF_PREFIX) ? ref.slice(REF_PREFIX.length) : ref;
      const entry = model.schemas.get(id);
      return entry ? (prepareSchema(entry.schema) as T) : undefined;
    },
  } satisfies GlobalContext;
  cachedContext = { model, ctx };
  return ctx;
}

/** Puts our doc comment on a property; `prepare` left openapi-typescript nothing to write its own from. */
function documentProperty(property: ts.PropertySignature, schema: SchemaObject): ts.PropertySignature {
  const doc = (schema as Record<string, unknown>)[DOC];
  if (typeof doc !== 'string' || !doc) return property;
  const lines = sanitiseCommentText(doc).split('\n');
  const text = lines.length === 1 ? `* ${lines[0]} ` : `*\n${lines.map((l) => (l ? ` * ${l}` : ' *')).join('\n')}\n `;
  return ts.addSyntheticLeadingComment(property, ts.SyntaxKind.MultiLineCommentTrivia, text, true);
}

function literalTransform(schema: SchemaObject): ts.TypeNode | undefined {
  const literal = (schema as Record<string, unknown>)[LITERAL];
  return typeof literal === 'string' ? tsLiteral(literal) : undefined;
}

/**
 * Rewrites openapi-typescript's output: `components["schemas"]["id"]` → the
 * local name of `id`; `Record<string, T>` → `{ [key: string]: T }` (generated
 * code never depends on a global name); `{ …props } & { [key: string]: unknown }`
 * → one object type.
 */
function rewrite(type: ts.TypeNode, resolveRef: (id: string) => string): ts.TypeNode {
  const f = ts.factory;
  const visit = (node: ts.Node): ts.Node => {
    if (ts.isIndexedAccessTypeNode(node)) {
      const id = schemaRefId(node);
      if (id !== undefined) return f.createTypeReferenceNode(resolveRef(id));
    }
    if (ts.isTypeReferenceNode(node) && ts.isIdentifier(node.typeName) && node.typeName.text === 'Record' && node.typeArguments?.length === 2) {
      const [key, value] = node.typeArguments as unknown as [ts.TypeNode, ts.TypeNode];
      return f.createTypeLiteralNode([indexSignature(key, visit(value) as ts.TypeNode)]);
    }
    const next = ts.visitEachChild(node, visit, undefined);
    if (ts.isIntersectionTypeNode(next)) return mergeOpenObject(next) ?? next;
    return next;
  };
  return visit(type) as ts.TypeNode;
}

function indexSignature(key: ts.TypeNode, value: ts.TypeNode): ts.IndexSignatureDeclaration {
  const f = ts.factory;
  return f.createIndexSignature(undefined, [f.createParameterDeclaration(undefined, undefined, 'key', undefined, key)], value);
}

/** `components["schemas"]["id"]` → `id`. */
function schemaRefId(node: ts.IndexedAccessTypeNode): string | undefined {
  const inner = node.objectType;
  if (!ts.isIndexedAccessTypeNode(inner)) return undefined;
  const root = inner.objectType;
  if (!ts.isTypeReferenceNode(root) || !ts.isIdentifier(root.typeName) || root.typeName.text !== 'components') return undefined;
  const lit = (n: ts.TypeNode) => (ts.isLiteralTypeNode(n) && ts.isStringLiteral(n.literal) ? n.literal.text : undefined);
  if (lit(inner.indexType) !== 'schemas') return undefined;
  return lit(node.indexType);
}

/** `{ a?: string } & { [key: string]: unknown }` → `{ a?: string; [key: string]: unknown }`. */
function mergeOpenObject(node: ts.IntersectionTypeNode): ts.TypeNode | undefined {
  if (node.types.length !== 2) return undefined;
  const [a, b] = node.types as unknown as [ts.TypeNode, ts.TypeNode];
  if (!ts.isTypeLiteralNode(a) || !ts.isTypeLiteralNode(b)) return undefined;
  const [index] = b.members;
  if (b.members.length !== 1 || !index || !ts.isIndexSignatureDeclaration(index) || index.type.kind !== ts.SyntaxKind.UnknownKeyword) return undefined;
  if (a.members.some((m) => ts.isIndexSignatureDeclaration(m))) return undefined;
  return ts.factory.createTypeLiteralNode([...a.members, index]);
}
