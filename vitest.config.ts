import { defineConfig } from 'vitest/config';

// The @dtx/* workspace packages resolve to their TypeScript source (package.json exports "dtx-source"), as in tsc and tsx:
// no build needed. Setting conditions replaces Vite's defaults, so they are repeated after it.
const SOURCE_CONDITION = 'dtx-source';

export default defineConfig({
  resolve: { conditions: [SOURCE_CONDITION, 'module', 'browser', 'development|production'] },
  ssr: { resolve: { conditions: [SOURCE_CONDITION, 'module', 'node', 'development|production'] } },
  test: {
    include: ['test/**/*.test.ts'],
    // Starts private MariaDB + Redis once per run; tests read inject('mysqlUrl') / inject('redisUrl').
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    // Files run in parallel (at most 2 at once: CI has 2 cores); tests inside a file run sequentially.
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Leaves time for the global teardown to stop MariaDB gracefully.
    teardownTimeout: 60_000,
  },
});
