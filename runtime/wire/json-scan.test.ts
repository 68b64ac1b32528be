import { describe, expect, it } from 'vitest';
import { splitList } from './json-scan.ts';

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
