import { defineConfig } from 'vitest/config';

export default defineConfig({
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
