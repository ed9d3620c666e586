import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import { runsUnderCi } from './packages/kit/src/testing/ci.ts';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // Node loads graphql's CommonJS build (Apollo's packages require it); Vite would otherwise pick the
    // ES module build for our own imports, and graphql refuses to mix objects from the two copies.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'subgraphs/*/*/{src,test}/**/*.test.ts',
      'gateway/{src,test}/**/*.test.ts',
      'test/**/*.test.ts',
    ],
    // Under CI a missing TEST_* server fails the run here, once, instead of skipping the tests that need it.
    globalSetup: ['packages/kit/src/testing/global-setup.ts'],
    // Embedded databases start from migrated templates: creating and migrating one costs seconds of CPU per start.
    setupFiles: ['packages/kit/src/testing/setup-file.ts'],
    // A committed `.only` would quietly run one test and pass: under CI it fails the run.
    allowOnly: !runsUnderCi(),
    // Integration tests start real servers and databases; separate processes keep them apart.
    pool: 'forks',
    // Vitest's default (cores - 1) runs one file at a time on two cores, yet a test file spends much of its time
    // waiting on servers: on two cores, the embedded integration suites took 77-81 s with one worker, 45-56 s with two.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    testTimeout: 30_000,
    hookTimeout: 90_000,
    teardownTimeout: 30_000,
  },
});
