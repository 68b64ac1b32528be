/**
 * Names the generator derives from schema text: TypeScript identifiers, file
 * and folder names, and the quoting of property keys. Every name that ends up
 * in generated code passes through here, so this file is where the output is
 * kept from being an injection path: an identifier either matches
 * `^[A-Za-z_$][A-Za-z0-9_$]*$` and is no reserved word, or it is rewritten
 * until it does; anything else is emitted as a JSON string literal.
 */

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * Words that cannot name a declaration in generated code: JavaScript's
 * reserved words, TypeScript's type keywords, and the names generated modules
 * rely on (the support namespace `$`).
 */
const RESERVED = new Set(
  (
    'break case catch class const continue debugger default delete do else enum export extends false finally for function ' +
    'if import in instanceof new null return super switch this throw true try typeof var void while with yield let static ' +
    'implements interface package private protected public await arguments eval ' +
    'any boolean number string symbol bigint object never unknown undefined type namespace module declare abstract as ' +
    'asserts infer is keyof readonly unique global require satisfies accessor out ' +
    '$ globalThis NaN Infinity'
  ).split(' '),
);

/** True when `name` can be used as is for a declaration in generated code. */
export function isSafeIdentifier(name: string): boolean {
  return IDENTIFIER.test(name) && !RESERVED.has(name);
}

/**
 * A safe identifier made from `raw`: characters outside `[A-Za-z0-9_$]` become
 * `_`, a leading digit gets a `_` in front, and a reserved word gets a `_`
 * after it. The result always satisfies `isSafeIdentifier`.
 */
export function toIdentifier(raw: string): string {
  let name = raw.replace(/[^A-Za-z0-9_$]/g, '_');
  if (name === '' || /^[0-9]/.test(name)) name = `_${name}`;
  while (RESERVED.has(name)) name = `${name}_`;
  return name;
}

/**
 * Hands out unique names within one scope (a module, or a group-version's
 * exports). Names are taken in the order asked; a taken name gets `_2`, `_3`…
 */
export class NameScope {
  private readonly taken = new Set<string>();

  constructor(reserved: Iterable<string> = []) {
    for (const r of reserved) this.taken.add(r);
  }

  /** Reserves exactly `name`; false if it was already taken. */
  claim(name: string): boolean {
    if (this.taken.has(name)) return false;
    this.taken.add(name);
    return true;
  }

  /** A unique safe identifier based on `raw`. */
  unique(raw: string): string {
    const base = toIdentifier(raw);
    if (this.claim(base)) return base;
    for (let i = 2; ; i++) if (this.claim(`${base}_${i}`)) return `${base}_${i}`;
  }

  has(name: string): boolean {
    return this.taken.has(name);
  }
}

/** A property key for an object literal or a type member: the name itself when it is an identifier, else a JSON string. */
export function propertyKey(name: string): string {
  return IDENTIFIER.test(name) && name !== '__proto__' ? name : JSON.stringify(name);
}

/**
 * A JavaScript string literal for any text: JSON, plus escapes for the two
 * line separators JSON leaves raw, so the literal stays on one line.
 */
export function jsString(text: string): string {
  return JSON.stringify(text)
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/**
 * The text of a `/** … *\/` comment body: line breaks normalised, each line
 * prefixed with ` * `, and every `*\/` broken so the comment cannot be closed
 * from inside. Returns the whole comment, indented by `indent`, or '' for no text.
 */
export function docComment(text: string | undefined, indent = ''): string {
  if (!text?.trim()) return '';
  const lines = sanitiseCommentText(text).split('\n');
  if (lines.length === 1) return `${indent}/** ${lines[0]} */\n`;
  return `${indent}/**\n${lines.map((l) => (l ? `${indent} * ${l}` : `${indent} *`)).join('\n')}\n${indent} */\n`;
}

/** Comment-safe text: no `*\/`, no stray carriage returns or line separators, no trailing spaces. */
export function sanitiseCommentText(text: string): string {
  return text
    .replace(/\r\n?|[\u2028\u2029]/g, '\n')
    .replace(/\*\//g, '*\\/')
    .split('\n')
    .map((l) => l.replace(/\s+$/, ''))
    .join('\n')
    .trim();
}

/** The folder of an API group: the group name, `core` for the core group. Throws for names that are not DNS subdomains. */
export function groupFolder(group: string): string {
  if (group === '') return 'core';
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(group)) throw new Error(`API group ${JSON.stringify(group)} is not a valid DNS subdomain`);
  return group;
}

/** Checks a version name (`v1`, `v2beta1`, …); throws for anything that could not be a path segment. */
export function versionFolder(version: string): string {
  if (!/^[a-z0-9]+$/.test(version)) throw new Error(`API version ${JSON.stringify(version)} is not a valid version name`);
  return version;
}

/** The camel-case form of a group's labels: `networking.k8s.io` → `networkingK8sIo`. */
export function camelGroup(labels: string[]): string {
  return labels
    .map((l, i) =>
      l
        .split('-')
        .map((p, j) => (i === 0 && j === 0 ? p : p.charAt(0).toUpperCase() + p.slice(1)))
        .join(''),
    )
    .join('');
}
