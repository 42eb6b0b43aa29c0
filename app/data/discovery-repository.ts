import { AGENT_COLUMNS, countByTag, toAgent, type AgentRecord } from './agent-repository.js';
import type { Queryable } from './sql.js';
import type { DiscoveryWeights } from '../config/settings.js';

export type { DiscoveryWeights };

export interface DiscoveredAgent {
  agent: AgentRecord;
  score: number;
  relevance: number;
  trust: number;
  usefulness: number;
}

interface Filter {
  q?: string | undefined;
  tag?: string | undefined;
  limit: number;
  offset: number;
}

const MATCH = `a.status = 'active'
  AND ($1::text IS NULL OR a.discovery_vector @@ websearch_to_tsquery('english', $1))
  AND ($2::text IS NULL OR a.tags @> ARRAY[$2::text])`;

/**
 * Recomputes rank_base = w_t·trust + w_u·usefulness/100 for the given agents (all when omitted).
 * Called after every change of trust (finalization, slash) or usefulness (aggregator).
 */
export async function refreshRankBase(
  db: Queryable,
  w: DiscoveryWeights,
  which: { dids: string[] } | { ids: string[] } | 'all',
): Promise<number> {
  const dids = typeof which === 'object' && 'dids' in which ? which.dids : null;
  const ids = typeof which === 'object' && 'ids' in which ? which.ids : null;
  const { rowCount } = await db.query(
    `UPDATE agents a SET rank_base = $1::float8 * coalesce(p.trust_score, 0.5) + $2::float8 * coalesce(u.score, 0) / 100
       FROM agents x
       LEFT JOIN reputations p ON p.did = x.did
       LEFT JOIN agent_usefulness u ON u.did = x.did
      WHERE x.id = a.id AND ($3::text[] IS NULL OR x.did = ANY($3::text[])) AND ($4::uuid[] IS NULL OR x.id = ANY($4::uuid[]))
        AND a.rank_base IS DISTINCT FROM $1::float8 * coalesce(p.trust_score, 0.5) + $2::float8 * coalesce(u.score, 0) / 100`,
    [w.trust, w.usefulness, dids, ids],
  );
  return rowCount ?? 0;
}

/**
 * Active agents ranked by w_r·relevance + rank_base (= w_t·trust + w_u·usefulness/100, kept on the
 * agent row), where relevance is ts_rank_cd normalised to [0,1) over name, tags, skills and
 * description. Without a query the page is read straight from the rank_base index and a tag's
 * total counted from agent_tags (migration 0009); with one, the matches (found through the GIN
 * index) are ranked once on narrow rows with no joins, counted in the same pass, and only the
 * page's agents are read in full.
 */
export async function discoverAgents(
  db: Queryable,
  f: Filter,
  w: DiscoveryWeights,
): Promise<{ results: DiscoveredAgent[]; total: number }> {
  let page: { id: string | null; relevance: number; score: number }[];
  let total: number;
  if (f.q) {
    // One ts_rank_cd per match (it is most of the statement's time), then the page and the count.
    const { rows } = await db.query<{ id: string | null; relevance: number; score: number; total: string }>(
      `WITH m AS MATERIALIZED (
         SELECT a.id, ts_rank_cd(a.discovery_vector, websearch_to_tsquery('english', $1), 32) AS relevance, a.rank_base
           FROM agents a WHERE ${MATCH}
       )
       SELECT (SELECT count(*) FROM m) AS total, p.*
         FROM (SELECT 1) one LEFT JOIN (
           SELECT id, relevance, $3::float8 * relevance + rank_base AS score FROM m
            ORDER BY score DESC, id LIMIT $4 OFFSET $5
         ) p ON true
        ORDER BY p.score DESC, p.id`,
      [f.q, f.tag ?? null, w.relevance, f.limit, f.offset],
    );
    total = Number(rows[0]?.total ?? 0);
    page = rows.filter((r) => r.id !== null);
  } else {
    const [ranked, count] = await Promise.all([
      db.query<{ id: string; relevance: number; score: number }>(
        `SELECT a.id, 0::float8 AS relevance, a.rank_base AS score
           FROM agents a WHERE ${MATCH} ORDER BY a.rank_base DESC, a.id LIMIT $3 OFFSET $4`,
        [null, f.tag ?? null, f.limit, f.offset],
      ),
      f.tag
        ? countByTag(db, f.tag, 'active')
        : db.query<{ n: string }>(`SELECT count(*) AS n FROM agents a WHERE a.status = 'active'`),
    ]);
    page = ranked.rows;
    total = Number(count.rows[0]!.n);
  }
  const agents = page.length
    ? await db.query(
        `SELECT ${AGENT_COLUMNS}, coalesce(p.trust_score, 0.5) AS trust, coalesce(u.score, 0) AS usefulness
           FROM agents a LEFT JOIN reputations p ON p.did = a.did LEFT JOIN agent_usefulness u ON u.did = a.did
          WHERE a.id = ANY($1::uuid[])`,
        [page.map((p) => p.id)],
      )
    : { rows: [] as Record<string, unknown>[] };
  const byId = new Map(agents.rows.map((r) => [r.id as string, r]));
  const round = (x: number) => Math.round(x * 1e6) / 1e6;
  return {
    total,
    results: page
      .filter((p) => byId.has(p.id!))
      .map((p) => {
        const { trust, usefulness, ...agent } = byId.get(p.id!)! as Record<string, unknown> & {
          trust: number;
          usefulness: number;
        };
        return {
          agent: toAgent(agent as Parameters<typeof toAgent>[0]),
          score: round(p.score),
          relevance: round(p.relevance),
          trust: round(trust),
          usefulness: round(usefulness),
        };
      }),
  };
}
