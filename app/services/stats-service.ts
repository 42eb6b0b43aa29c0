import type { AppContext } from '../context.js';
import { paymentTotals } from '../data/payment-repository.js';
import { taskCounts } from '../data/receipt-repository.js';
import { findReputation } from '../data/reputation-repository.js';
import { usefulnessScores } from '../data/usefulness-repository.js';
import { requireAgent } from './agents-service.js';
import { loadFeedbackSummary } from './feedback-service.js';

/**
 * Per-agent statistics: feedback, payments, and for an agent with a DID its proof-of-usefulness
 * tasks and trust score. success_rate is finalized / (finalized + failed or expired) when the
 * agent has closed tasks, else the share of positive feedback; usefulness is the aggregator's.
 */
export async function agentStats(ctx: AppContext, agentId: string) {
  const agent = await requireAgent(ctx, agentId);
  return ctx.cache.get('stats', agentId, async () => {
    const none = { settled: 0, finalized: 0, failed: 0 };
    const [summary, payments, tasks, pou, useful] = await Promise.all([
      loadFeedbackSummary(ctx, agentId),
      paymentTotals(ctx.db, agentId),
      agent.did ? taskCounts(ctx.db, agent.did) : Promise.resolve(none),
      agent.did ? findReputation(ctx.db, agent.did) : Promise.resolve(undefined),
      agent.did ? usefulnessScores(ctx.db, [agent.did]) : Promise.resolve(new Map<string, number>()),
    ]);
    const { trust_level, ...feedback } = summary;
    const closed = tasks.finalized + tasks.failed;
    const rate = closed ? tasks.finalized / closed : summary.total ? summary.positive / summary.total : null;
    return {
      agent_id: agentId,
      feedback,
      payments,
      tasks,
      success_rate: rate === null ? null : Math.round(rate * 10_000) / 10_000,
      usefulness: agent.did ? (useful.get(agent.did) ?? null) : null,
      trust_score: pou ? Math.round(pou.trust_score * 10_000) / 10_000 : null,
      trust_level,
    };
  });
}
