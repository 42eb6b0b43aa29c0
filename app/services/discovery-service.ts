import type { AppContext } from '../context.js';
import { discoverAgents } from '../data/discovery-repository.js';
import type { DiscoveryInput } from '../schemas/pou.js';

// The weights are built once into ctx.settings; the mapping stays importable from here for code
// that holds only an environment.
export { discoveryWeights } from '../config/settings.js';

export async function discover(ctx: AppContext, f: DiscoveryInput) {
  const { results, total } = await discoverAgents(ctx.db, f, ctx.settings.discovery);
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
