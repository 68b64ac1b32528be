import { describe, expect, it } from 'vitest';
import { KubeError } from './errors.ts';
import { formatLabelSelector, labelMatcher, LabelSelectorError, parseLabelSelector } from './labels.ts';
import { store } from '../cache/store.ts';
import type { KubeObject } from './types.ts';

describe('parseLabelSelector', () => {
  it('parses every operator into requirements', () => {
    const sel = parseLabelSelector('app=web, tier!=db,env in (a, b),zone notin (x),!legacy,has,mode==fast');
    expect(sel.requirements).toEqual([
      { key: 'app', operator: 'Equals', value: 'web' },
      { key: 'tier', operator: 'NotEquals', value: 'db' },
      { key: 'env', operator: 'In', values: ['a', 'b'] },
      { key: 'zone', operator: 'NotIn', values: ['x'] },
      { key: 'legacy', operator: 'DoesNotExist' },
      { key: 'has', operator: 'Exists' },
      { key: 'mode', operator: 'Equals', value: 'fast' },
    ]);
  });

  it('accepts prefixed keys and empty values like the server', () => {
    expect(parseLabelSelector('app.kubernetes.io/name=web').requirements).toEqual([{ key: 'app.kubernetes.io/name', operator: 'Equals', value: 'web' }]);
    expect(parseLabelSelector('a=,b in (x,,y),c notin ()').requirements).toEqual([
      { key: 'a', operator: 'Equals', value: '' },
      { key: 'b', operator: 'In', values: ['x', '', 'y'] },
      { key: 'c', operator: 'NotIn', values: [''] },
    ]);
  });

  it('treats an empty or blank selector as matching everything', () => {
    for (const text of ['', '   ']) {
      const sel = parseLabelSelector(text);
      expect(sel.requirements).toEqual([]);
      expect(sel.matches(undefined)).toBe(true);
      expect(sel.matches({ any: 'thing' })).toBe(true);
    }
  });
});

describe('LabelMatcher.matches', () => {
  const cases: [string, Record<string, string> | undefined, boolean][] = [
    ['app=web', { app: 'web' }, true],
    ['app=web', { app: 'api' }, false],
    ['app=web', {}, false],
    ['app!=web', { app: 'api' }, true],
    ['app!=web', {}, true], // absent counts as "not equal", as on the server
    ['app!=web', { app: 'web' }, false],
    ['env in (a,b)', { env: 'b' }, true],
    ['env in (a,b)', { env: 'c' }, false],
    ['env in (a,b)', undefined, false],
    ['env notin (a,b)', { env: 'c' }, true],
    ['env notin (a,b)', undefined, true],
    ['env notin (a,b)', { env: 'a' }, false],
    ['has', { has: '' }, true],
    ['has', {}, false],
    ['!legacy', {}, true],
    ['!legacy', { legacy: 'true' }, false],
    ['a=', { a: '' }, true],
    ['a=', { a: 'x' }, false],
    ['app=web,tier!=db', { app: 'web', tier: 'db' }, false],
    ['app=web,tier!=db', { app: 'web', tier: 'fe' }, true],
  ];
  it.each(cases)('%s on %j is %s', (text, labels, expected) => {
    expect(parseLabelSelector(text).matches(labels)).toBe(expected);
  });

  it('never finds a label on the prototype', () => {
    expect(parseLabelSelector('constructor').matches({})).toBe(false);
    expect(parseLabelSelector('!hasOwnProperty').matches({})).toBe(true);
    expect(parseLabelSelector('toString notin (x)').matches({})).toBe(true);
    const labels = JSON.parse('{"__proto__":"yes","constructor":"c"}') as Record<string, string>;
    expect(parseLabelSelector('constructor=c,!toString').matches(labels)).toBe(true);
    // `__proto__` is not a valid label key, so a selector cannot name it at all
    expect(() => parseLabelSelector('__proto__=yes')).toThrow(/key name "__proto__"/);
  });
});

describe('selector errors', () => {
  const bad: [string, RegExp][] = [
    ['app in (a', /expected "," or "\)" in a value list; found the end/],
    ['app in a', /expected "\(" after in\/notin/],
    ['=a', /expected a label key; found "="/],
    ['app=a b', /expected "," between requirements; found "b"/],
    ['app=a,', /expected a label key; found the end/],
    ['app>1', /unexpected ">"/],
    ['a==b==c', /expected "," between requirements/],
    ['app web', /expected an operator .* after key "app"; found "web"/],
    ['-bad=x', /key name "-bad"/],
    ['Example.com/x=y', /key prefix "Example.com" is not a DNS subdomain/],
    [`app=${'v'.repeat(64)}`, /value "v+" must be at most 63/],
    ['!', /expected a label key; found the end/],
  ];
  it.each(bad)('rejects %j', (text, message) => {
    expect(() => parseLabelSelector(text)).toThrow(message);
  });

  it('reports the position and is a KubeError', () => {
    let error: unknown;
    try {
      parseLabelSelector('app=web,tier in db');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LabelSelectorError);
    expect(error).toBeInstanceOf(KubeError);
    expect((error as LabelSelectorError).position).toBe(16);
    expect((error as LabelSelectorError).selector).toBe('app=web,tier in db');
  });
});

describe('the LabelSelector struct', () => {
  it('formats as the string syntax the server takes, and matches as that string does', () => {
    const selector = {
      matchLabels: { tier: 'fe', app: 'web' },
      matchExpressions: [
        { key: 'env', operator: 'In', values: ['prod', 'staging'] },
        { key: 'zone', operator: 'NotIn', values: ['x'] },
        { key: 'team', operator: 'Exists' },
        { key: 'legacy', operator: 'DoesNotExist' },
      ],
    } as const;
    expect(formatLabelSelector(selector)).toBe('app=web,tier=fe,env in (prod,staging),zone notin (x),team,!legacy');
    const m = labelMatcher(selector);
    expect(m.matches({ app: 'web', tier: 'fe', env: 'prod', team: 'a' })).toBe(true);
    expect(m.matches({ app: 'web', tier: 'fe', env: 'prod', team: 'a', legacy: '1' })).toBe(false);
    expect(m.matches({ app: 'web', tier: 'fe', env: 'dev', team: 'a' })).toBe(false);
    expect(labelMatcher({}).matches(undefined)).toBe(true);
    expect(labelMatcher('app=web').matches({ app: 'web' })).toBe(true);
  });

  it('refuses what the server would refuse, saying what', () => {
    expect(() => formatLabelSelector({ matchExpressions: [{ key: 'a', operator: 'In' }] })).toThrow(/operator In needs values/);
    expect(() => formatLabelSelector({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] })).toThrow(/takes no values/);
    expect(() => formatLabelSelector({ matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] })).toThrow(/unknown operator "Gt"/);
    expect(() => formatLabelSelector({ matchLabels: { 'bad key!': 'x' } })).toThrow(LabelSelectorError);
  });

  it('filters a store as the string does', () => {
    const { reader, writer } = store<KubeObject>();
    const obj = (name: string, labels: Record<string, string>) => ({ metadata: { name, uid: name, resourceVersion: '1', labels } });
    writer.applyEvent({ type: 'Apply', object: obj('a', { app: 'web', env: 'prod' }) });
    writer.applyEvent({ type: 'Apply', object: obj('b', { app: 'web', env: 'dev' }) });
    const byStruct = reader.filter({ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'env', operator: 'In', values: ['prod'] }] });
    expect(byStruct.map((o) => o.metadata.name)).toEqual(['a']);
    expect(reader.filter('app=web,env in (prod)').map((o) => o.metadata.name)).toEqual(['a']);
  });
});
