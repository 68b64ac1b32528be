/**
 * `--include` and `--exclude`: which kinds of the inputs are generated. A
 * pattern is `group/version/kind` with `*` wildcards (`core` for the core
 * group, missing trailing parts match anything, case does not matter). A
 * pattern that selects nothing is almost always a typo, so an `--include`
 * that matches no kind, and `--exclude`s that leave none, are errors naming
 * the pattern and the kinds it was probably meant to be.
 */
import { GenerateError } from '../errors.ts';
import { globToRegExp } from '../input/glob.ts';

/** What a pattern is matched against. */
export interface KindName {
  group: string;
  version: string;
  kind: string;
}

/** The kinds to generate: those any `include` matches (all when there is none), less those an `exclude` matches. */
export function filterKinds<K extends KindName>(kinds: K[], include: string[] = [], exclude: string[] = []): K[] {
  const includes = include.map((p) => ({ pattern: p, match: patternMatcher(p) }));
  const excludes = exclude.map(patternMatcher);
  for (const { pattern, match } of includes) {
    if (kinds.length && !kinds.some(match)) throw new GenerateError(`--include ${pattern} matches no kind; ${hint(pattern, kinds)}`);
  }
  const included = includes.length ? kinds.filter((k) => includes.some((i) => i.match(k))) : kinds;
  const kept = included.filter((k) => !excludes.some((m) => m(k)));
  if (included.length && !kept.length) {
    const which = includes.length
      ? `that ${includes.map((i) => `--include ${i.pattern}`).join(', ')} ${includes.length === 1 ? 'selects' : 'select'}`
      : 'the inputs have';
    const verb = exclude.length === 1 ? 'leaves' : 'leave';
    throw new GenerateError(`${exclude.map((p) => `--exclude ${p}`).join(', ')} ${verb} no kind of the ${included.length} ${which}`);
  }
  return kept;
}

/** `group/version/Kind`, with `core` for the core group. */
function keyOf(k: KindName): string {
  return `${k.group || 'core'}/${k.version}/${k.kind}`;
}

/** The matcher of one `group/version/kind` pattern. */
function patternMatcher(pattern: string): (k: KindName) => boolean {
  const parts = patternParts(pattern);
  const res = parts.map((p) => globToRegExp(p, { starOnly: true, ignoreCase: true }));
  return (k) => res[0]!.test(k.group || 'core') && res[1]!.test(k.version) && res[2]!.test(k.kind);
}

function patternParts(pattern: string): [string, string, string] {
  const parts = pattern.split('/');
  if (parts.length > 3 || parts.some((p) => !p)) throw new GenerateError(`a kind pattern is group/version/kind, e.g. apps/v1/Deployment or core/*/*`, pattern);
  while (parts.length < 3) parts.push('*');
  return parts as [string, string, string];
}

/** What to tell the user of a pattern that matches nothing: the close kinds, or what the inputs have. */
function hint(pattern: string, kinds: KindName[]): string {
  const close = closeKinds(pattern, kinds);
  if (close.length) return `close: ${close.join(', ')}`;
  const keys = kinds.map(keyOf).sort();
  if (keys.length <= 6) return `the inputs have ${keys.join(', ')}`;
  const groups = [...new Set(kinds.map((k) => k.group || 'core'))].sort();
  const shown = groups.length > 8 ? `${groups.slice(0, 8).join(', ')}, …` : groups.join(', ');
  return `the inputs have ${keys.length} kinds in ${groups.length === 1 ? 'the group' : `${groups.length} groups:`} ${shown}`;
}

/**
 * Up to three kinds a few typing mistakes away from the pattern: every part
 * of the pattern that does not match must be a literal within a third of its
 * length (at least 1) in edits of the kind's part (`Widgit` → `Widget`,
 * `pods` → `Pod`, `v2` → `v1`); a wildcard part that does not match rules
 * the kind out. The closest come first.
 */
export function closeKinds(pattern: string, kinds: KindName[]): string[] {
  const parts = patternParts(pattern);
  const matchers = parts.map((p) => globToRegExp(p, { starOnly: true, ignoreCase: true }));
  const scored: { key: string; cost: number }[] = [];
  for (const k of kinds) {
    const actual = [k.group || 'core', k.version, k.kind];
    let cost = 0;
    for (const [i, part] of parts.entries()) {
      if (matchers[i]!.test(actual[i]!)) continue;
      const d = part.includes('*') ? Number.POSITIVE_INFINITY : editDistance(part.toLowerCase(), actual[i]!.toLowerCase());
      cost += d <= Math.max(1, Math.floor(part.length / 3)) ? d : Number.POSITIVE_INFINITY;
    }
    if (cost < Number.POSITIVE_INFINITY) scored.push({ key: keyOf(k), cost });
  }
  return scored
    .sort((a, b) => a.cost - b.cost || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .slice(0, 3)
    .map((s) => s.key);
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}
