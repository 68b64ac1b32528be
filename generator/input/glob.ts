/**
 * Glob patterns, in the two places the command line takes them: CRD file
 * globs (`--crd 'crds/**\/*.yaml'`) and kind patterns (`--include apps/v1/*`,
 * one pattern per part of `group/version/kind`). Both become an anchored
 * RegExp here, so they agree on what is literal; they differ only in which
 * characters are special. A pattern is never handed to `RegExp` as it is:
 * everything that is not a wildcard is escaped.
 */

export interface GlobOptions {
  /**
   * Only `*` is special, matching any run of characters (a kind pattern's
   * part, which holds no `/`). Default: a path glob, where `*` and `?` stay
   * within one folder, `**` crosses folders (`**\/` also matches none), and
   * `{a,b}` and `[abc]` are understood.
   */
  starOnly?: boolean;
  /** Match regardless of case: kinds are `Deployment` on the server, `deployment` when typed. */
  ignoreCase?: boolean;
}

/** True when `text` has a character a path glob treats as special. */
export function hasGlob(text: string): boolean {
  return /[*?{[]/.test(text);
}

/**
 * A path glob split where the wildcards start: `base`, the leading folders
 * without glob characters joined with `sep` (`.` when there are none), where
 * a walk starts; and `rest`, the remaining parts joined with `/`, which the
 * files below `base` are matched against.
 */
export function splitGlob(pattern: string, sep: string): { base: string; rest: string } {
  const parts = pattern.split(/[\\/]/);
  const firstGlob = parts.findIndex((p) => hasGlob(p));
  return { base: parts.slice(0, firstGlob).join(sep) || '.', rest: parts.slice(firstGlob).join('/') };
}

/** The RegExp a glob matches whole with; see `GlobOptions` for the two syntaxes. */
export function globToRegExp(glob: string, opts: GlobOptions = {}): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (opts.starOnly) re += c === '*' ? '.*' : escapeRegExp(c);
    else if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '{') {
      const end = glob.indexOf('}', i);
      if (end < 0) re += '\\{';
      else {
        re += `(?:${glob
          .slice(i + 1, end)
          .split(',')
          .map(escapeRegExp)
          .join('|')})`;
        i = end;
      }
    } else if (c === '[') {
      const end = glob.indexOf(']', i);
      if (end < 0) re += '\\[';
      else {
        re += `[${glob.slice(i + 1, end).replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += escapeRegExp(c);
  }
  return new RegExp(`^${re}$`, opts.ignoreCase ? 'i' : '');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
