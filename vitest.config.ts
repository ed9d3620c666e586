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
    // Under CI a missing TEST_* server fails the run here, once, instead of skipping the tests that need it.
    globalSetup: ['packages/kit/src/testing/global-setup.ts'],
    // Embedded databases start from migrated templates: creating and migrating one costs seconds of CPU per start.
    setupFiles: ['packages/kit/src/testing/setup-file.ts'],
    // A committed `.only` would quietly run one test and pass: under CI it fails the run.
    allowOnly: !runsUnderCi(),
    // Integration tests start real servers and databases; separate processes keep them apart.
    pool: 'forks',
    // A worker process runs file after file, keeping what it imported: a new process per file spent more time starting
    // and importing than most files spend testing (the nexus-cos subgraph tests took 227 s isolated, 106 s not; the 57
    // stack files 583 s against 499 s). Each file owns its servers, ports, databases and namespaces. The stack files kept
    // a process each while each service opened a PGlite of its own (some then failed to connect within pg's 5 s); a
    // stack's services now share one embedded server.
    isolate: false,
    // Vitest's default (cores - 1) runs one file at a time on two cores, yet a test file spends much of its time
    // waiting on servers: on two cores, the embedded integration suites took 77-81 s with one worker, 45-56 s with two.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    testTimeout: 30_000,
    hookTimeout: 90_000,
    teardownTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'packages, subgraphs and gateway',
          include: ['packages/*/src/**/*.test.ts', 'subgraphs/*/*/{src,test}/**/*.test.ts', 'gateway/{src,test}/**/*.test.ts'],
        },
      },
      {
        extends: true,
        test: { name: 'stacks', include: ['test/**/*.test.ts'] },
      },
    ],
  },
});
