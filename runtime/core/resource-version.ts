/**
 * Ordering resourceVersions. Until Kubernetes 1.34 a resourceVersion was an
 * opaque string that clients could only test for equality. Since 1.35
 * (KEP-5504, "comparable resource version") the resourceVersions of the
 * objects of one resource are ordered: each is a positive decimal integer
 * without leading zeros, of any length, and a later version is a larger
 * number. apimachinery's `CompareResourceVersion` states the rule; this is
 * the same rule.
 *
 * The order holds only within one resource (pods with pods, not pods with
 * configmaps) and only for a server that follows the KEP; a string that is
 * not such an integer (`"0"`, `""`, `"01"`, an aggregated server's own
 * format) cannot be ordered, and asking throws, so that a caller decides
 * what an unordered version means instead of getting a silent guess.
 */
import { KubeError } from './errors.ts';

/**
 * `-1` when `a` is older than `b`, `0` when they are the same version, `1`
 * when `a` is newer. Throws a `KubeError` when either is not a positive
 * decimal integer without leading zeros (`"0"` is the list and watch
 * parameter meaning "any", never an object's version).
 *
 * @example
 * compareResourceVersions('99', '100'); // -1: shorter is older
 * compareResourceVersions('210', '120'); // 1
 * compareResourceVersions('0', '1'); // throws
 */
export function compareResourceVersions(a: string, b: string): -1 | 0 | 1 {
  requireWellFormed(a);
  requireWellFormed(b);
  // No leading zeros: a longer number is a larger one, and numbers of one length compare digit by digit.
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * True when `rv` can be ordered: a positive decimal integer without leading
 * zeros, of any length.
 *
 * @example
 * isComparableResourceVersion('12345'); // true
 * isComparableResourceVersion('0'); // false
 */
export function isComparableResourceVersion(rv: string): boolean {
  return /^[1-9][0-9]*$/.test(rv);
}

function requireWellFormed(rv: string): void {
  if (!isComparableResourceVersion(rv))
    throw new KubeError(`resourceVersion ${JSON.stringify(rv)} is not well formed: not a positive decimal integer without leading zeros`);
}

/**
 * Whether a cache that holds `current` of an object has caught up with a
 * write that returned `written`: `current` is that version or a newer one
 * where both can be ordered; where they cannot (another server's versions,
 * an aggregated API), `current` equals `written` or differs from `before`,
 * the version held before the write. False while the cache holds none.
 *
 * @example
 * holdsAtLeast('120', '118'); // true
 * holdsAtLeast('117', '118'); // false
 * holdsAtLeast('opaque-b', 'opaque-c', 'opaque-a'); // true: not what it was before the write
 */
export function holdsAtLeast(current: string | undefined, written: string, before?: string): boolean {
  if (current === undefined) return false;
  if (current === written) return true;
  if (isComparableResourceVersion(current) && isComparableResourceVersion(written)) return compareResourceVersions(current, written) >= 0;
  return before !== undefined && current !== before;
}
