import { defineConfig } from 'vitest/config';

/**
 * The cluster lane (`npm run test:cluster`): test/cluster/*.cluster.ts, one file at a time, against
 * the loopback control plane the lane starts (infra/cluster) and the real Pulumi CLI. Kept out of
 * vitest.config.ts so `npm test` never starts it.
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
