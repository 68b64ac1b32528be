/**
 * `--include` / `--exclude` on their own: a pattern that selects nothing is an
 * error, and its message names the kinds a typo was probably meant to be.
 */
import { describe, expect, it } from 'vitest';
import { closeKinds, filterKinds } from '../../generator/model/filter.ts';

const kinds = [
  { group: '', version: 'v1', kind: 'Pod' },
  { group: '', version: 'v1', kind: 'PodTemplate' },
  { group: '', version: 'v1', kind: 'Service' },
  { group: 'apps', version: 'v1', kind: 'Deployment' },
  { group: 'apps', version: 'v1', kind: 'DaemonSet' },
  { group: 'batch', version: 'v1', kind: 'Job' },
  { group: 'networking.k8s.io', version: 'v1', kind: 'Ingress' },
];

describe('kind patterns', () => {
  it('suggests kinds a few edits away, closest first, and none for a wildcard that does not match', () => {
    expect(closeKinds('core/v1/Pods', kinds)).toEqual(['core/v1/Pod']);
    expect(closeKinds('apps/v1/deployments', kinds)).toEqual(['apps/v1/Deployment']);
    expect(closeKinds('apps/v2/Deployment', kinds)).toEqual(['apps/v1/Deployment']);
    expect(closeKinds('networking.k8s.oi/v1/Ingress', kinds)).toEqual(['networking.k8s.io/v1/Ingress']);
    expect(closeKinds('app/*/DaemonSets', kinds)).toEqual(['apps/v1/DaemonSet']);
    expect(closeKinds('policy/*/*', kinds)).toEqual([]);
    expect(closeKinds('core/v1/Secret', kinds)).toEqual([]);
  });

  it('names what the inputs have when nothing is close', () => {
    expect(() => filterKinds(kinds, ['policy/*/*'])).toThrow(
      /^--include policy\/\*\/\* matches no kind; the inputs have 7 kinds in 4 groups: apps, batch, core, networking\.k8s\.io$/,
    );
    expect(() => filterKinds(kinds.slice(0, 2), ['apps'])).toThrow(/^--include apps matches no kind; the inputs have core\/v1\/Pod, core\/v1\/PodTemplate$/);
  });

  it('refuses excludes that leave nothing of what the includes select', () => {
    expect(() => filterKinds(kinds, ['apps'], ['*/v1/*'])).toThrow(/^--exclude \*\/v1\/\* leaves no kind of the 2 that --include apps selects$/);
    expect(filterKinds(kinds, ['apps', 'batch'], ['*/*/Job']).map((k) => k.kind)).toEqual(['Deployment', 'DaemonSet']);
  });
});
