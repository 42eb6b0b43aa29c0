import type { AppContext } from '../context.js';
import { aggregateUsefulness } from '../data/usefulness-repository.js';
import type { JobCounts, JobDefinition } from './job.js';

/** Recomputes each agent's usefulness (30-day average of unflagged proofs) for discovery and reputation. */
export async function aggregate(ctx: AppContext): Promise<JobCounts> {
  return aggregateUsefulness(ctx.db, ctx.env.USEFULNESS_WINDOW_DAYS);
}

export const aggregatorJob: JobDefinition = {
  name: 'aggregator',
  schedule: (env) => ({ cron: env.USEFULNESS_AGGREGATOR_CRON, enabled: env.USEFULNESS_AGGREGATOR_ENABLED }),
  run: (ctx) => aggregate(ctx),
};
