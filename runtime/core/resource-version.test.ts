/**
 * The ordering of resourceVersions (KEP-5504): the cases apimachinery's
 * `CompareResourceVersion` is tested on, so that the two agree.
 */
import { describe, expect, it } from 'vitest';
import { KubeError } from './errors.ts';
import { compareResourceVersions, isComparableResourceVersion } from './resource-version.ts';

describe('compareResourceVersions', () => {
  it('orders decimal strings by value, whatever their lengths', () => {
    expect(compareResourceVersions('100', '200')).toBe(-1);
    expect(compareResourceVersions('200', '100')).toBe(1);
    // Shorter is older: a string comparison would say '99' > '100'.
    expect(compareResourceVersions('99', '100')).toBe(-1);
    expect(compareResourceVersions('100', '99')).toBe(1);
    expect(compareResourceVersions('120', '210')).toBe(-1);
  });

  it('says equal for the same version', () => {
    expect(compareResourceVersions('1', '1')).toBe(0);
    expect(compareResourceVersions('100', '100')).toBe(0);
  });

  it('orders numbers longer than any JavaScript number holds exactly', () => {
    const big = '12345678901234567890123456789012345678901234567890';
    expect(compareResourceVersions('99999999999999999999999999999999999999999999999999', `1${'0'.repeat(50)}`)).toBe(-1);
    expect(compareResourceVersions(`1${'0'.repeat(50)}`, '99999999999999999999999999999999999999999999999999')).toBe(1);
    expect(compareResourceVersions(big, big)).toBe(0);
    // Beyond 2^53 a conversion to number would call these equal.
    expect(compareResourceVersions('9007199254740993', '9007199254740992')).toBe(1);
  });

  it('throws for a version that cannot be ordered: zero, empty, leading zeros, non-digits', () => {
    for (const [a, b] of [
      ['0', '1'],
      ['1', '0'],
      ['0', '0'],
      ['', '100'],
      ['100', ''],
      ['0100', '100'],
      ['100', '0100'],
      ['100a', '100'],
      ['100', '100a'],
      ['-1', '1'],
      ['1e3', '1000'],
      [' 1', '1'],
    ]) {
      expect(() => compareResourceVersions(a!, b!), `${a} vs ${b}`).toThrow(KubeError);
    }
    expect(() => compareResourceVersions('01', '1')).toThrow(/"01" is not well formed/);
  });

  it('tells which versions can be ordered', () => {
    expect(isComparableResourceVersion('1')).toBe(true);
    expect(isComparableResourceVersion('987654321')).toBe(true);
    expect(isComparableResourceVersion('0')).toBe(false);
    expect(isComparableResourceVersion('')).toBe(false);
    expect(isComparableResourceVersion('007')).toBe(false);
    expect(isComparableResourceVersion('abc')).toBe(false);
  });
});
