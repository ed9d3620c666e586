import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // Node loads graphql's CommonJS build (Apollo's packages require it); Vite would otherwise pick the
    // ES module build for our own imports, and graphql refuses to mix objects from the two copies.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'subgraphs/*/{src,test}/**/*.test.ts', 'gateway/{src,test}/**/*.test.ts', 'test/**/*.test.ts'],
    // Integration tests start real servers and databases; separate processes keep them apart.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 90_000,
    teardownTimeout: 30_000,
  },
});
