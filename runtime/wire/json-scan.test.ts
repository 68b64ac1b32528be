import { describe, expect, it } from 'vitest';
import { findCuts, memberPath, splitList, textWithout } from './json-scan.ts';

describe('finding the members on a path', () => {
  const body = Buffer.from('{"list":[{"x":{"k":1,"y":2}},{"x":{"y":3,"k":"4"}},7,{"x":{}}],"k":0}');

  it('cuts the member at every element of an each step, saying which element it came from', () => {
    const cuts = findCuts(body, memberPath('list', 'each', 'x', 'k'), false);
    expect(cuts.map((c) => [c.item, body.toString('utf8', c.valueFrom, c.valueTo)])).toEqual([
      [0, '1'],
      [1, '"4"'],
    ]);
    expect(JSON.parse(textWithout(body, cuts))).toEqual({ list: [{ x: { y: 2 } }, { x: { y: 3 } }, 7, { x: {} }], k: 0 });
  });

  it('with lastOnly, leaves a member alone unless it is the last of its object', () => {
    const cuts = findCuts(body, memberPath('list', 'each', 'x', 'k'), true);
    expect(cuts.map((c) => c.item)).toEqual([1]);
  });

  it('stops at the first match of a path without an each step (JSON.parse reads a duplicate key anyway)', () => {
    const twice = Buffer.from('{"a":{"k":1,"k":2}}');
    expect(findCuts(twice, memberPath('a', 'k'), false)).toHaveLength(1);
    expect(memberPath('a', 'k').once).toBe(true);
    expect(memberPath('a', 'each', 'k').once).toBe(false);
  });

  it('finds nothing in bytes it does not recognise, so that the caller parses them whole', () => {
    for (const bad of ['{"a":{"k":1', '{"a" {"k":1}}', '{"a":{"x":"open, "k":1}}', '{"a":{"k":}}', '']) {
      expect(findCuts(Buffer.from(bad), memberPath('a', 'k'), false), bad).toEqual([]);
    }
  });
});

describe('splitting a list into its envelope and the bytes of each item', () => {
  it('gives the list without items and each item as it is, wherever items stands', () => {
    const items = [{ metadata: { name: 'a' }, data: { x: '],[}{"' } }, [1, [2]], 'text', 7, null, {}];
    for (const list of [
      { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '9', continue: 'c' }, items },
      { items, metadata: { resourceVersion: '9' } },
      { kind: 'PodList', items: [] },
    ]) {
      for (const indent of [undefined, 2]) {
        const split = splitList(Buffer.from(JSON.stringify(list, null, indent)))!;
        expect(JSON.parse(split.envelope)).toEqual({ ...list, items: [] });
        expect(split.items.map((b) => JSON.parse(b.toString()))).toEqual(list.items);
      }
    }
    expect(splitList(Buffer.from('{}'))).toEqual({ envelope: '{}', items: [] });
  });

  it('gives up (undefined) on bytes it does not recognise, so that the caller parses them whole', () => {
    for (const bad of ['[1,2]', '{"items":[1,2}', '{"items":[1 2]}', '{"items":[1]} trailing', '{"a":1,', '', '{"items":"x"']) {
      expect(splitList(Buffer.from(bad)), bad).toBeUndefined();
    }
    // Not an array: nothing to split, the envelope is the whole list.
    expect(splitList(Buffer.from('{"items":"x"}'))).toEqual({ envelope: '{"items":"x"}', items: [] });
  });
});
