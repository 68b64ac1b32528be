/**
 * `jitter`: the bounds of the spread, its uniformity, and each caller's
 * spread (one-sided for retry periods, two-sided for the backoff, a plain
 * draw for the watcher's whole seconds).
 */
import { describe, expect, it, vi } from 'vitest';
import { mulberry32 } from '../../test/support/random.ts';
import { jitter } from './jitter.ts';

/** The largest number `Math.random` can return. */
const ALMOST_ONE = 1 - 2 ** -53;

describe('jitter', () => {
  it('scales by 1 − below at a draw of 0, and by 1 + above (up to rounding) at the top of the draw', () => {
    expect(jitter(1000, { below: 0.2, above: 0.3 }, () => 0)).toBeCloseTo(800, 9);
    expect(jitter(1000, { below: 0.2, above: 0.3 }, () => 0.5)).toBeCloseTo(1050, 9);
    expect(jitter(1000, { below: 0.2, above: 0.3 }, () => ALMOST_ONE)).toBeLessThanOrEqual(1300);
    expect(jitter(1000, { below: 0.2, above: 0.3 }, () => ALMOST_ONE)).toBeCloseTo(1300, 9);
  });

  it('leaves the value alone without a spread, whatever the draw', () => {
    for (const r of [0, 0.3, ALMOST_ONE]) expect(jitter(1234, {}, () => r)).toBe(1234);
  });

  it("one-sided ({ above }) is client-go's wait.Jitter: never less, up to the fraction more", () => {
    // The same numbers as the formula the retry loops used before: d × (1 + r × f).
    const random = mulberry32(1);
    for (let i = 0; i < 1000; i++) {
      const r = random();
      expect(jitter(2000, { above: 0.2 }, () => r)).toBe(2000 * (1 + r * 0.2));
      expect(jitter(2000, { above: 0.1 }, () => r)).toBe(2000 * (1 + r * 0.1));
    }
  });

  it('draws uniformly: ten equal bins of 100,000 draws hold about a tenth each', () => {
    const random = mulberry32(42);
    const bins = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) {
      const v = jitter(100, { below: 0.5, above: 0.5 }, random);
      expect(v).toBeGreaterThanOrEqual(50);
      expect(v).toBeLessThan(150);
      bins[Math.floor((v - 50) / 10)]!++;
    }
    for (const n of bins) expect(Math.abs(n - 10_000)).toBeLessThan(500);
  });

  it('{ below: 1 } is a plain draw from [0, value): its floor takes every whole number below value equally often', () => {
    const random = mulberry32(7);
    const counts = new Array<number>(4).fill(0);
    for (let i = 0; i < 40_000; i++) counts[Math.floor(jitter(4, { below: 1 }, random))]!++;
    for (const n of counts) expect(Math.abs(n - 10_000)).toBeLessThan(500);
    expect(Math.floor(jitter(4, { below: 1 }, () => ALMOST_ONE))).toBe(3);
  });

  it('uses Math.random unless given a source', () => {
    const spy = vi.spyOn(Math, 'random').mockReturnValue(0.5);
    try {
      expect(jitter(100, { above: 1 })).toBe(150);
      expect(spy).toHaveBeenCalledOnce();
    } finally {
      spy.mockRestore();
    }
  });
});
