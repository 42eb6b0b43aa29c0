import type { AppContext } from '../context.js';
import { paymentTotals } from '../data/payment-repository.js';
import { requireAgent } from './agents-service.js';
import { loadReputation } from './feedback-service.js';

/**
 * Per-agent statistics. Task counts, usefulness and trust score come from the proof-of-usefulness
 * tables; until an agent has settled tasks they are 0 / null.
 */
export async function agentStats(ctx: AppContext, agentId: string) {
  await requireAgent(ctx, agentId);
  return ctx.cache.get('stats', agentId, async () => {
    const [rep, payments] = await Promise.all([loadReputation(ctx, agentId), paymentTotals(ctx.db, agentId)]);
    const { trust_level, ...feedback } = rep;
    return {
      agent_id: agentId,
      feedback,
      payments,
      tasks: { settled: 0, finalized: 0, failed: 0 },
      success_rate: rep.total ? Math.round((rep.positive / rep.total) * 10_000) / 10_000 : null,
      usefulness: null,
      trust_score: null,
      trust_level,
    };
  });
}
