import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'subgraphs/*/{src,test}/**/*.test.ts', 'gateway/{src,test}/**/*.test.ts', 'test/**/*.test.ts'],
    // Integration tests start real servers and databases; separate processes keep them apart.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 90_000,
    teardownTimeout: 30_000,
  },
});
