/**
 * `kubereflect-testing` (testing/index.ts) as a user's test uses it:
 * binaries from `KUBEBUILDER_ASSETS` in setup-envtest's layout (the built
 * ones copied there, so nothing is built), a plane of its own, the viewer
 * context restricted, a fault proxy whose cuts a cache survives
 * (`converged`), and `stop()`; and the one error for a folder missing a
 * binary.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigMap } from '../../generated/core/v1/configmap.ts';
import { ApiError, silentLogger } from '../../runtime/index.ts';
import { ensureBinaries } from '../../testing/binaries.ts';
import { ControlPlaneBinariesError, converged, freshNamespace, generateKinds, startControlPlane, waitFor } from '../../testing/index.ts';

/** The built binaries copied into a folder laid out as setup-envtest writes it. */
async function envtestAssets(): Promise<string> {
  const bins = await ensureBinaries();
  const dir = join(mkdtempSync(join(tmpdir(), 'envtest-')), 'k8s', `${bins.versions.kubernetes.slice(1)}-linux-amd64`);
  mkdirSync(dir, { recursive: true });
  copyFileSync(bins.kubeApiserver, join(dir, 'kube-apiserver'));
  copyFileSync(bins.etcd, join(dir, 'etcd'));
  return dir;
}

describe('kubereflect-testing', () => {
  it('starts a plane from KUBEBUILDER_ASSETS without building, restricts the viewer, survives proxy cuts, and stops', async () => {
    const assets = await envtestAssets();
    const lines: string[] = [];
    const before = process.env.KUBEBUILDER_ASSETS;
    process.env.KUBEBUILDER_ASSETS = assets;
    const plane = await startControlPlane({ log: (l) => lines.push(l) }).finally(() => {
      if (before === undefined) delete process.env.KUBEBUILDER_ASSETS;
      else process.env.KUBEBUILDER_ASSETS = before;
    });
    try {
      expect(plane.version).toMatch(/^v1\.\d+\.\d+$/);
      expect(lines.some((l) => l.startsWith('building'))).toBe(false);
      expect(lines.some((l) => /ready in [\d.]+ s/.test(l))).toBe(true);
      const client = plane.client();
      const ns = await freshNamespace(client, 'kit');
      await expect(ConfigMap.api(plane.client('viewer'), ns).list()).rejects.toSatisfy((e) => e instanceof ApiError && e.statusCode === 403);
      const proxy = await plane.proxy();
      const cache = ConfigMap.cache(ConfigMap.api(proxy.client(), ns), { watcher: { logger: silentLogger } });
      const running = cache.run();
      await cache.reader.waitUntilReady();
      for (let i = 0; i < 5; i++) {
        await ConfigMap.api(client, ns).create({ metadata: { name: `cm-${i}` } });
        proxy.cutAll();
      }
      const result = await converged(cache.reader, ConfigMap.api(client, ns));
      expect(result.store).toBeGreaterThanOrEqual(5);
      await waitFor('the cache to hold cm-4', () => cache.reader.get({ name: 'cm-4', namespace: ns }));
      cache.stop();
      await running;
    } finally {
      await plane.stop();
    }
    await expect(fetch(plane.server)).rejects.toThrow();
  }, 120_000);

  it('generates the kinds of a CRD for a test with the generator (generateKinds), and says what failed', async () => {
    const out = mkdtempSync(join(tmpdir(), 'kit-kinds-'));
    const bin = join(import.meta.dirname, '..', '..', 'bin', 'kubereflect.mjs');
    await generateKinds({ crd: [join(import.meta.dirname, '..', '..', 'examples', 'crds', 'widget.yaml')], out, bin });
    expect(existsSync(join(out, 'demo.kubereflect.dev', 'v1', 'widget.ts'))).toBe(true);
    await expect(generateKinds({ crd: [join(out, 'nope.yaml')], out, bin })).rejects.toThrow(/^generateKinds: kubereflect generate failed: .*nope\.yaml/);
    await expect(generateKinds({ out, cwd: out })).rejects.toThrow(`generateKinds: kubereflect-generator is not installed in ${out}`);
  }, 60_000);

  it('says each way to get the binaries when KUBEBUILDER_ASSETS lacks one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'envtest-empty-'));
    const err = await startControlPlane({ assets: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlPlaneBinariesError);
    expect((err as Error).message).toBe(
      `assets=${dir} has no kube-apiserver and no etcd (an executable file): point it at the folder setup-envtest prints (\`setup-envtest use -p path\`), or unset it to use the cache or build with Go`,
    );
  });
});
