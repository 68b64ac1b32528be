import { describe, expect, it } from 'vitest';
import { NODE_FLOOR, nodeTooOld } from './node-version.ts';

describe('the Node.js floor', () => {
  it('refuses a Node older than 22.19, naming both versions', () => {
    expect(nodeTooOld('20.20.2')).toBe(
      'kubereflect needs Node.js 22.19 or newer; this is Node.js v20.20.2 (undici 8, which @kubernetes/client-node uses, cannot load on it)',
    );
    expect(nodeTooOld('22.18.9')).toMatch(/needs Node.js 22.19 or newer; this is Node.js v22.18.9/);
    expect(nodeTooOld('8.0.0')).toBeDefined();
  });

  it('accepts 22.19 and newer, whatever follows the minor', () => {
    for (const version of ['22.19.0', '22.20.1', '23.0.0', '24.21.0', '30.1.0-nightly2027']) expect(nodeTooOld(version)).toBeUndefined();
  });

  it('matches the engines field of the published manifest', async () => {
    const { readFile } = await import('node:fs/promises');
    const manifest = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { engines: { node: string } };
    expect(manifest.engines.node).toBe(`>=${NODE_FLOOR.join('.')}`);
  });
});
