import type { AppContext } from '../context.js';
import { aggregateUsefulness } from '../data/usefulness-repository.js';
import type { JobCounts, JobDefinition } from './job.js';
import { refreshRankBase } from '../data/discovery-repository.js';

/**
 * Recomputes each agent's usefulness (30-day average of unflagged proofs) for discovery and
 * reputation, and every agent's discovery rank base.
 */
export async function aggregate(ctx: AppContext): Promise<JobCounts> {
  const counts = await aggregateUsefulness(ctx.db, ctx.settings.usefulnessWindowDays);
  // Usefulness moved (and the configured weights may differ from the last run): re-rank everyone.
  const reranked = await refreshRankBase(ctx.db, ctx.settings.discovery, 'all');
  return { ...counts, reranked };
}

export const aggregatorJob: JobDefinition = {
  name: 'aggregator',
  schedule: (env) => ({ cron: env.USEFULNESS_AGGREGATOR_CRON, enabled: env.USEFULNESS_AGGREGATOR_ENABLED }),
  run: (ctx) => aggregate(ctx),
};
