import { defineConfig } from 'vitest/config';

/**
 * The cluster lane (`npm run test:cluster`): one file, run on its own, against the loopback control
 * plane it starts (infra/cluster). Kept out of vitest.config.ts so `npm test` never starts it.
 */
export default defineConfig({
  test: {
    include: ['test/cluster/**/*.cluster.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    reporters: ['default'],
  },
});
