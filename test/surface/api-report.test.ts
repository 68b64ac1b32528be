/**
 * The committed API report (api/*.api.md) matches the source: a change to the
 * public surface shows up as a diff of api/ in review, never by accident.
 * The report is rebuilt in memory by scripts/api-report.ts, from one Program
 * over the entry points in package.json "exports".
 */
import { describe, expect, it } from 'vitest';
import { CHANGED, compare, lineDiff } from '../../scripts/api-report.ts';

describe('the API report', () => {
  it('matches the source', () => {
    const problems = compare();
    if (problems.length) expect.fail(`${problems.join('\n\n')}\n\n${CHANGED}`);
  });
});

describe('lineDiff', () => {
  it('shows what changed, with its line and the lines around it', () => {
    const before = 'abcdefghijkl'.split('').join('\n');
    const after = 'abcDefghijklm'.split('').join('\n');
    expect(lineDiff(before, after)).toBe(['@@ line 2 @@', '  b', '  c', '- d', '+ D', '  e', '  f', '@@ line 11 @@', '  k', '  l', '+ m'].join('\n'));
    expect(lineDiff('same', 'same')).toBe('');
  });
});
