import type { AppContext } from '../context.js';
import { discoverAgents } from '../data/discovery-repository.js';

export async function discover(
  ctx: AppContext,
  f: { q?: string | undefined; tag?: string | undefined; limit: number; offset: number },
) {
  const { results, total } = await discoverAgents(ctx.db, f, {
    relevance: ctx.env.DISCOVERY_WEIGHT_RELEVANCE,
    trust: ctx.env.DISCOVERY_WEIGHT_TRUST,
    usefulness: ctx.env.DISCOVERY_WEIGHT_USEFULNESS,
  });
  return {
    agents: results.map((r) => ({
      ...r.agent,
      discovery: { score: r.score, relevance: r.relevance, trust: r.trust, usefulness: r.usefulness },
    })),
    total,
    limit: f.limit,
    offset: f.offset,
  };
}
