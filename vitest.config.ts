import { defineConfig } from 'vitest/config';

// As in tsconfig.json: the generator imports the runtime by its package name.
const alias = [{ find: /^kubereflect$/, replacement: new URL('./runtime/index.ts', import.meta.url).pathname }];

/**
 * Two projects. `unit` needs no control plane: the runtime's tests beside each
 * module (event sequences, decoding, queues, fakes for faults no real server
 * produces on demand), the generator's, the public-surface and layering checks.
 * `integration` runs against a real kube-apiserver + etcd, which its global
 * setup starts or reuses: test/integration, the fault suite, the multi-process
 * scale tests, the benchmark's tiny run and the consumer test.
 * `npm run test:unit` runs the first alone; `npm test` runs both.
 */
export const integrationTests = [
  'test/integration/**/*.test.ts',
  'test/faults/**/*.test.ts',
  'test/scale/**/*.test.ts',
  'test/bench/**/*.test.ts',
  'test/consumer/**/*.test.ts',
  // The worked example of testing an operator with kubereflect-testing: a plane of its own.
  'examples/testing/**/*.test.ts',
];

export default defineConfig({
  resolve: { alias },
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The integration tests share one control plane; two workers keep it busy without starving it on 2 cores.
    maxWorkers: 2,
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'unit',
          include: ['runtime/**/*.test.ts', 'generator/**/*.test.ts', 'test/**/*.test.ts'],
          // test/consumer/kit holds a user's project's tests, run by the consumer test inside that project.
          exclude: [...integrationTests, 'test/consumer/kit/**'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'integration',
          include: integrationTests,
          exclude: ['test/consumer/kit/**'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
