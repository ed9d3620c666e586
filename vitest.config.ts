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
          // A worker process runs file after file here, keeping what it imported: a new process per file spent more
          // time starting and importing than most of these files spend testing (the nexus-cos subgraph tests took
          // 227 s isolated, 106 s not). Each file owns its servers, ports, databases and namespaces.
          isolate: false,
        },
      },
      {
        extends: true,
        // Whole stacks share worker processes too, as above: once a PGlite per service, some embedded suites then failed
        // to connect in time (pg's 5 s connection timeout); since a stack's services share one embedded server, the 57
        // files pass so, in 499 s on two cores against 583 s with a process each (imports, and a cold JIT per file).
        test: { name: 'stacks', include: ['test/**/*.test.ts'], isolate: false },
      },
    ],
  },
});
