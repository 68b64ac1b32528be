/**
 * Api's argument checks reject the returned promise instead of throwing at
 * the call, so `api.get(name).catch(…)` and `await` see every failure alike.
 */
import { describe, expect, it } from 'vitest';
import { Api } from './api.ts';
import type { Client } from './client.ts';
import type { KubeObject } from '../core/types.ts';

const pods = { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true };
// Never reached: every call below fails its checks before any request.
const client = {} as Client;

describe('Api argument checks', () => {
  it('reject the promise rather than throw', async () => {
    const everywhere = new Api<KubeObject>(client, pods);
    const calls: [string, () => Promise<unknown>][] = [
      ['get', () => everywhere.get('web')],
      ['replace', () => everywhere.replace('web', { metadata: { name: 'web' } })],
      ['delete', () => everywhere.delete('web')],
      ['getStatus', () => everywhere.getStatus('web')],
      ['patch without fieldManager', () => new Api<KubeObject>(client, pods, 'shop').patch('web', { type: 'apply', body: {} })],
      ['empty name', () => new Api<KubeObject>(client, pods, 'shop').get('')],
    ];
    for (const [what, call] of calls) {
      let promise: Promise<unknown> | undefined;
      expect(() => (promise = call()), what).not.toThrow();
      await expect(promise, what).rejects.toThrow(/needs its namespace|needs a fieldManager|must not be empty/);
    }
  });
});
