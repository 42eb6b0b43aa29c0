import { defineConfig } from 'vitest/config';
import cluster from './vitest.cluster.config.js';

/**
 * The failure run (`npm run test:chaos`): test/chaos/*.chaos.ts on the lane's real node, with the
 * cluster lane's setup and limits (one file at a time). Kept out of `npm test` and of
 * `npm run test:cluster`: a run takes longer than CI's budget allows.
 */
export default defineConfig({
  test: { ...cluster.test, include: ['test/chaos/**/*.chaos.ts'] },
});
