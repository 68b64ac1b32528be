import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../test/support/random.ts';
import { compact, expand } from './managed-fields-delta.ts';

/** A managedFields text like a pod's: the same tree with a few values of its own. */
function fields(i: number, extra = ''): string {
  const containers = ['app', 'envoy', ...(i % 3 === 0 ? ['fluent-bit'] : [])];
  const entry = (manager: string, time: string, tree: object) => ({
    manager,
    operation: 'Apply',
    apiVersion: 'v1',
    time,
    fieldsType: 'FieldsV1',
    fieldsV1: tree,
  });
  const tree = {
    'f:metadata': { 'f:labels': { '.': {}, 'f:app': {}, 'f:pod-template-hash': {} }, 'f:ownerReferences': { [`k:{"uid":"uid-${i % 7}"}`]: {} } },
    'f:spec': {
      'f:containers': Object.fromEntries(
        containers.map((c) => [`k:{"name":"${c}"}`, { '.': {}, 'f:image': {}, 'f:env': { 'k:{"name":"POD_NAME"}': { '.': {}, 'f:name': {} } } }]),
      ),
      'f:volumes': { [`k:{"name":"kube-api-access-${(i * 7919).toString(36).padStart(5, 'x')}"}`]: { '.': {}, 'f:projected': {} } },
    },
  };
  const status = { 'f:status': { 'f:podIP': {}, 'f:podIPs': { [`k:{"ip":"10.1.${i >> 8}.${i & 255}"}`]: { '.': {}, 'f:ip': {} } }, [`f:note${extra}`]: {} } };
  return JSON.stringify([
    entry('kube-controller-manager', `2026-11-30T10:${String(i % 60).padStart(2, '0')}:07Z`, tree),
    entry('kubelet', `2026-11-30T11:00:${String(i % 60).padStart(2, '0')}Z`, status),
  ]);
}

const roundTrip = (text: string) => {
  const c = compact(Buffer.from(text));
  expect(expand(c)).toBe(text);
  return c;
};

describe('the compact form of managedFields texts', () => {
  it('gives back every text exactly, and keeps texts that differ in a few places in a small fraction of their size', () => {
    roundTrip(fields(0));
    let total = 0;
    let compacted = 0;
    for (let i = 1; i < 300; i++) {
      const text = fields(i);
      total += text.length;
      compacted += roundTrip(text).length;
    }
    expect(compacted / total).toBeLessThan(0.15);
  });

  it('handles insertions, deletions and substitutions anywhere, multi-byte characters included', () => {
    const random = mulberry32(7);
    // BMP characters only: a random cut must not split a surrogate pair (not representable in UTF-8).
    const base = fields(1, 'ünïcødé ✓ 日本');
    for (let n = 0; n < 300; n++) {
      let text = base;
      for (let edits = 1 + Math.floor(random() * 5); edits > 0; edits--) {
        const at = Math.floor(random() * text.length);
        const piece = ['x', '日本', '{}', '"', '\\', 'kube-api-access-zzzzz'][Math.floor(random() * 6)]!;
        const kind = Math.floor(random() * 3);
        text =
          kind === 0
            ? text.slice(0, at) + piece + text.slice(at)
            : kind === 1
              ? text.slice(0, at) + text.slice(at + 1 + Math.floor(random() * 20))
              : text.slice(0, at) + piece + text.slice(at + piece.length);
      }
      roundTrip(text);
    }
  });

  it('keeps short texts, empty ones, and texts like no other whole', () => {
    for (const text of ['[]', '', '[{"manager":"m"}]', 'é'.repeat(10)]) roundTrip(text);
    const random = mulberry32(11);
    // Unlike each other: each fills a reference slot or, once they are taken, is kept whole.
    for (let n = 0; n < 80; n++) {
      const noise = Array.from({ length: 400 }, () => String.fromCharCode(0x20 + Math.floor(random() * 90))).join('');
      const c = roundTrip(JSON.stringify([{ manager: noise }]));
      expect(c.length).toBeLessThan(noise.length + 32);
    }
    // Near-copies still compact against the references taken earlier.
    expect(roundTrip(fields(1000)).length).toBeLessThan(fields(1000).length / 4);
  });
});
