import { defineConfig } from 'vitest/config';

export default defineConfig({
  // As in tsconfig.json: the generator imports the runtime by its package name.
  resolve: { alias: [{ find: /^kubereflect$/, replacement: new URL('./runtime/index.ts', import.meta.url).pathname }] },
  test: {
    include: ['runtime/**/*.test.ts', 'generator/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The integration tests share one control plane; two workers keep it busy without starving it on 2 cores.
    maxWorkers: 2,
  },
});
