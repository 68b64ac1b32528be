/**
 * The glob helper on its own: the path syntax of `--crd` globs, the
 * star-only syntax of `--include`/`--exclude` kind patterns, and where a
 * glob's walk starts.
 */
import { describe, expect, it } from 'vitest';
import { globToRegExp, hasGlob, splitGlob } from './glob.ts';

const matches = (glob: string, paths: string[], opts = {}) => paths.filter((p) => globToRegExp(glob, opts).test(p));

describe('path globs', () => {
  it('* and ? stay within one folder', () => {
    expect(matches('*.yaml', ['a.yaml', 'dir/a.yaml', '.yaml', 'a.yml'])).toEqual(['a.yaml', '.yaml']);
    expect(matches('crd-?.yaml', ['crd-1.yaml', 'crd-12.yaml', 'crd-/.yaml'])).toEqual(['crd-1.yaml']);
  });

  it('** crosses folders; **/ also matches no folder', () => {
    expect(matches('**/*.yaml', ['a.yaml', 'x/a.yaml', 'x/y/a.yaml', 'x/a.json'])).toEqual(['a.yaml', 'x/a.yaml', 'x/y/a.yaml']);
    expect(matches('crds/**', ['crds/a', 'crds/x/b', 'crdsx', 'other/a'])).toEqual(['crds/a', 'crds/x/b']);
  });

  it('{a,b} is one of the words, taken literally; [abc] one of the characters', () => {
    expect(matches('*.{yaml,yml}', ['a.yaml', 'a.yml', 'a.json'])).toEqual(['a.yaml', 'a.yml']);
    expect(matches('{a.b,c}', ['a.b', 'axb', 'c'])).toEqual(['a.b', 'c']);
    expect(matches('v[12].yaml', ['v1.yaml', 'v2.yaml', 'v3.yaml'])).toEqual(['v1.yaml', 'v2.yaml']);
  });

  it('an unclosed { or [ is a literal character', () => {
    expect(matches('a{b', ['a{b', 'ab'])).toEqual(['a{b']);
    expect(matches('a[b', ['a[b', 'ab'])).toEqual(['a[b']);
  });

  it('every other character is literal, and case matters', () => {
    expect(matches('a+b(1).yaml', ['a+b(1).yaml', 'aab1.yaml', 'a+b(1)xyaml'])).toEqual(['a+b(1).yaml']);
    expect(matches('^$|.yaml', ['^$|.yaml', ''])).toEqual(['^$|.yaml']);
    expect(matches('*.yaml', ['A.YAML'])).toEqual([]);
  });
});

describe('star-only patterns (kind patterns)', () => {
  const opts = { starOnly: true, ignoreCase: true };

  it('* is any run of characters, none included', () => {
    expect(matches('*', ['', 'apps', 'networking.k8s.io'], opts)).toEqual(['', 'apps', 'networking.k8s.io']);
    expect(matches('v1*', ['v1', 'v1beta1', 'v2'], opts)).toEqual(['v1', 'v1beta1']);
    expect(matches('*.k8s.io', ['networking.k8s.io', 'k8s.io', 'networkingxk8s.io'], opts)).toEqual(['networking.k8s.io']);
  });

  it('?, {…} and […] are literal, and case does not matter', () => {
    expect(matches('a?', ['ab', 'a?'], opts)).toEqual(['a?']);
    expect(matches('{a,b}', ['a', '{a,b}'], opts)).toEqual(['{a,b}']);
    expect(matches('[ab]', ['a', '[AB]'], opts)).toEqual(['[AB]']);
    expect(matches('deployment', ['Deployment', 'DEPLOYMENT', 'Deployments'], opts)).toEqual(['Deployment', 'DEPLOYMENT']);
  });
});

describe('where a glob starts', () => {
  it('knows which text is a glob', () => {
    expect(['a/*.yaml', 'a?', '{a,b}', '[ab]', 'a/b.yaml'].map(hasGlob)).toEqual([true, true, true, true, false]);
  });

  it('splits at the first part with a glob character', () => {
    expect(splitGlob('test/fixtures/crds/*.yaml', '/')).toEqual({ base: 'test/fixtures/crds', rest: '*.yaml' });
    expect(splitGlob('crds/**/v1/*.yaml', '/')).toEqual({ base: 'crds', rest: '**/v1/*.yaml' });
    expect(splitGlob('*.yaml', '/')).toEqual({ base: '.', rest: '*.yaml' });
    expect(splitGlob('crds\\*.yaml', '\\')).toEqual({ base: 'crds', rest: '*.yaml' });
    expect(splitGlob('/abs/crds/*.yaml', '/')).toEqual({ base: '/abs/crds', rest: '*.yaml' });
  });
});
