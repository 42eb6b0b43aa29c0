import { AGENT_COLUMNS, toAgent, type AgentRecord } from './agent-repository.js';
import type { Queryable } from './sql.js';

export interface DiscoveryWeights {
  relevance: number;
  trust: number;
  usefulness: number;
}

export interface DiscoveredAgent {
  agent: AgentRecord;
  score: number;
  relevance: number;
  trust: number;
  usefulness: number;
}

/**
 * Active agents ranked by w_r·relevance + w_t·trust + w_u·usefulness/100. Relevance is
 * ts_rank_cd normalised to [0,1) (rank/(rank+1)) over name, tags, skills and description; without
 * a query it is 0 and trust and usefulness decide. Agents without a reputation count as 0.5
 * trust, without usefulness as 0.
 */
export async function discoverAgents(
  db: Queryable,
  f: { q?: string | undefined; tag?: string | undefined; limit: number; offset: number },
  w: DiscoveryWeights,
): Promise<{ results: DiscoveredAgent[]; total: number }> {
  // Rank narrow rows (id and the three inputs) and join the full agent back only for the page:
  // carrying descriptions and JSON through the sort and the window count costs more than ranking.
  const { rows } = await db.query(
    `WITH q AS (SELECT CASE WHEN $1::text IS NULL THEN NULL ELSE websearch_to_tsquery('english', $1) END AS query),
     ranked AS (
       SELECT a.id, a.created_at,
              CASE WHEN q.query IS NULL THEN 0 ELSE ts_rank_cd(a.discovery_vector, q.query, 32) END AS relevance,
              coalesce(p.trust_score, 0.5) AS trust,
              coalesce(u.score, 0) AS usefulness
         FROM agents a CROSS JOIN q
         LEFT JOIN reputations p ON p.did = a.did
         LEFT JOIN agent_usefulness u ON u.did = a.did
        WHERE a.status = 'active'
          AND (q.query IS NULL OR a.discovery_vector @@ q.query)
          AND ($2::text IS NULL OR a.tags @> ARRAY[$2::text])
     ),
     page AS (
       SELECT *, $3::float8 * relevance + $4::float8 * trust + $5::float8 * usefulness / 100 AS score, count(*) OVER () AS total
         FROM ranked ORDER BY score DESC, created_at DESC, id LIMIT $6 OFFSET $7
     )
     SELECT ${AGENT_COLUMNS}, page.relevance, page.trust, page.usefulness, page.score, page.total
       FROM page JOIN agents a ON a.id = page.id
      ORDER BY page.score DESC, page.created_at DESC, page.id`,
    [f.q ?? null, f.tag ?? null, w.relevance, w.trust, w.usefulness, f.limit, f.offset],
  );
  const round = (x: number) => Math.round(x * 1e6) / 1e6;
  return {
    total: rows[0] ? Number(rows[0].total) : 0,
    results: rows.map(({ relevance, trust, usefulness, score, total: _t, ...agent }) => ({
      agent: toAgent(agent),
      score: round(score),
      relevance: round(relevance),
      trust: round(trust),
      usefulness: round(usefulness),
    })),
  };
}
