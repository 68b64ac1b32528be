/**
 * The rules kube-apiserver applies to a CRD's schemas that the generator
 * would otherwise trip over, checked where the input is read so that the
 * message points at the CRD (its file and line, the version and the schema
 * path, in the server's own path notation) rather than at generated code.
 *
 * From apiextensions-apiserver: `$ref` is not supported anywhere in a CRD
 * schema ("$ref is not supported"), nor are `definitions`; and a v1 CRD's
 * schema must be structural — every node of its structural part (the root,
 * `properties`, `items` and an `additionalProperties` schema, not the
 * schemas inside `allOf`/`anyOf`/`oneOf`/`not`) has a `type`, unless it sets
 * `x-kubernetes-preserve-unknown-fields: true` or
 * `x-kubernetes-int-or-string: true`; an `x-kubernetes-embedded-resource`
 * node is `type: object`; an array has `items`. A CRD read from a cluster
 * is one the server holds already (the server relaxes the structural rules
 * only for a CRD stored before they applied), so there a structural problem
 * is a warning; a `$ref` is an error everywhere.
 */
import { GenerateError, type GenerateWarning } from '../errors.ts';
import type { Json, JsonObject } from './load.ts';

/** A path inside the CRD document: keys and list indexes. */
export type DocPath = readonly (string | number)[];

export interface CrdSchemaCheck {
  /** Where warnings go. */
  warnings: GenerateWarning[];
  /** `file:line` of a node of the document (a CRD file), for messages; without it (or when it returns undefined) they name `origin`. */
  whereOf?: (path: DocPath) => string | undefined;
  /** The CRD comes from a cluster: structural problems are warnings (default: errors). */
  fromCluster?: boolean;
}

interface Problem {
  path: (string | number)[];
  /** The server's field path below `openAPIV3Schema`: `.properties[spec].items.type`. */
  field: string;
  message: string;
  structural: boolean;
}

/**
 * Checks every version's `openAPIV3Schema` of a CRD (served or not: the
 * server checks them all). A malformed CRD (no versions, a schema that is
 * not a mapping) is left for the model to report.
 * @throws GenerateError at the first problem (the first `$ref` of a cluster's CRD), naming its line, version and path.
 */
export function checkCrdSchemas(crd: JsonObject, origin: string, check: CrdSchemaCheck): void {
  const spec = crd.spec;
  if (!isObject(spec) || !Array.isArray(spec.versions)) return;
  const names = spec.names;
  const kind = isObject(names) && typeof names.kind === 'string' ? names.kind : undefined;
  for (const [i, v] of spec.versions.entries()) {
    if (!isObject(v) || !isObject(v.schema) || !isObject(v.schema.openAPIV3Schema)) continue;
    const base = ['spec', 'versions', i, 'schema', 'openAPIV3Schema'];
    const problems: Problem[] = [];
    walk(v.schema.openAPIV3Schema, [], '', 'root', true, problems);
    const what = `version ${typeof v.name === 'string' ? v.name : `#${i}`}${kind ? ` of ${kind}` : ''}`;
    for (const [n, p] of problems.entries()) {
      const text = `${what}: spec.versions[${i}].schema.openAPIV3Schema${p.field}: ${p.message}`;
      const where = check.whereOf?.([...base, ...p.path]) ?? origin;
      if (p.structural && check.fromCluster) {
        check.warnings.push({
          where,
          message: `${text}; generated anyway: the cluster holds this CRD (its schema was stored before structural schemas were required)`,
        });
        continue;
      }
      const more = problems.slice(n + 1).filter((q) => !(q.structural && check.fromCluster)).length;
      throw new GenerateError(more ? `${text} (and ${more} more in this version)` : text, where);
    }
  }
}

type Level = 'root' | 'items' | 'field';

const EMPTY_TYPE: Record<Level, string> = {
  root: 'must not be empty at the root',
  items: 'must not be empty for specified array items',
  field: 'must not be empty for specified object fields',
};

/**
 * Collects the problems of `node` and below, in document order. `structural`:
 * the node is part of the structural schema (not inside a logic junctor), so
 * the type rules apply to it.
 */
function walk(node: Json, path: (string | number)[], field: string, level: Level, structural: boolean, problems: Problem[]): void {
  if (!isObject(node)) return;
  if ('$ref' in node) {
    problems.push({
      path: [...path, '$ref'],
      field: `${field}.$ref`,
      message: 'a CRD schema cannot use $ref (the apiserver refuses it: "$ref is not supported"); write the referenced schema out in place',
      structural: false,
    });
  }
  if ('definitions' in node) {
    problems.push({
      path: [...path, 'definitions'],
      field: `${field}.definitions`,
      message: 'a CRD schema cannot have definitions (the apiserver refuses them: "definitions is not supported"); write each schema out where it is used',
      structural: false,
    });
  }
  // A node that is a $ref has no type of its own: that is the $ref's problem, not another one.
  if (structural && !('$ref' in node)) {
    const type = typeof node.type === 'string' ? node.type : '';
    if (node['x-kubernetes-embedded-resource'] === true && type !== 'object') {
      problems.push({
        path: node.type === undefined ? path : [...path, 'type'],
        field: `${field}.type`,
        message:
          'must be object: the apiserver refuses an x-kubernetes-embedded-resource node of another type ("must be object if x-kubernetes-embedded-resource is true")',
        structural: true,
      });
    } else if (!type && node['x-kubernetes-int-or-string'] !== true && node['x-kubernetes-preserve-unknown-fields'] !== true) {
      problems.push({
        path,
        field: `${field}.type`,
        message: `missing: the apiserver refuses a schema node without a type ("${EMPTY_TYPE[level]}") unless it sets x-kubernetes-preserve-unknown-fields or x-kubernetes-int-or-string`,
        structural: true,
      });
    }
    if (type === 'array' && node.items === undefined) {
      problems.push({
        path,
        field: `${field}.items`,
        message: 'missing: the apiserver refuses an array without items ("must be specified")',
        structural: true,
      });
    }
  }
  if (isObject(node.properties)) {
    for (const [name, child] of Object.entries(node.properties)) {
      walk(child, [...path, 'properties', name], `${field}.properties[${name}]`, 'field', structural, problems);
    }
  }
  walk(node.items ?? null, [...path, 'items'], `${field}.items`, 'items', structural, problems);
  walk(node.additionalProperties ?? null, [...path, 'additionalProperties'], `${field}.additionalProperties`, 'field', structural, problems);
  for (const junctor of ['allOf', 'anyOf', 'oneOf'] as const) {
    const list = node[junctor];
    if (!Array.isArray(list)) continue;
    for (const [i, child] of list.entries()) walk(child, [...path, junctor, i], `${field}.${junctor}[${i}]`, level, false, problems);
  }
  walk(node.not ?? null, [...path, 'not'], `${field}.not`, level, false, problems);
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
