import type { Env } from '../config/env.js';
import type { AppContext } from '../context.js';
import { discoverAgents, type DiscoveryWeights } from '../data/discovery-repository.js';
import type { DiscoveryInput } from '../schemas/pou.js';

export function discoveryWeights(env: Env): DiscoveryWeights {
  return {
    relevance: env.DISCOVERY_WEIGHT_RELEVANCE,
    trust: env.DISCOVERY_WEIGHT_TRUST,
    usefulness: env.DISCOVERY_WEIGHT_USEFULNESS,
  };
}

export async function discover(ctx: AppContext, f: DiscoveryInput) {
  const { results, total } = await discoverAgents(ctx.db, f, discoveryWeights(ctx.env));
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
