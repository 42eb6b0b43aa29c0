import { AGENT_COLUMNS, countByTag, toAgent, type AgentRecord } from './agent-repository.js';
import { unprepared, type Queryable } from './sql.js';
import { positiveSearchText } from '../domain/search-text.js';
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
    unprepared(
      `UPDATE agents a SET rank_base = $1::float8 * coalesce(p.trust_score, 0.5) + $2::float8 * coalesce(u.score, 0) / 100
       FROM agents x
       LEFT JOIN reputations p ON p.did = x.did
       LEFT JOIN agent_usefulness u ON u.did = x.did
      WHERE x.id = a.id AND ($3::text[] IS NULL OR x.did = ANY($3::text[])) AND ($4::uuid[] IS NULL OR x.id = ANY($4::uuid[]))
        AND a.rank_base IS DISTINCT FROM $1::float8 * coalesce(p.trust_score, 0.5) + $2::float8 * coalesce(u.score, 0) / 100`,
      [w.trust, w.usefulness, dids, ids],
    ),
  );
  return rowCount ?? 0;
}

/**
 * The text relevance of discovery (docs/discovery.md): PostgreSQL's `ts_rank` of the agent's
 * discovery vector (name and tags weighted A, skills B, description C) against the positive part of
 * the query (search-text.ts: the words, phrases and `or`s, negated words left out), capped at 1.
 * `$1` is the query a match must satisfy, `$6` its positive part (null: relevance 0).
 */
const RELEVANCE = `least(1::real, coalesce(ts_rank(a.discovery_vector, websearch_to_tsquery('english', $6::text)), 0::real))`;

/**
 * Active agents ranked by w_r·relevance + rank_base (= w_t·trust + w_u·usefulness/100, kept on the
 * agent row), where relevance is RELEVANCE above, in [0, 1]. Without a query the page is read
 * straight from the rank_base index and a tag's total counted from agent_tags (migration 0009);
 * with one, the matches (found through the GIN index) are scored once on narrow rows with no joins,
 * counted in the same pass, and only the page's agents are read in full.
 *
 * Why ts_rank and not ts_rank_cd (issue 35, docs/discovery.md): both are PostgreSQL's weighted text
 * relevance with proximity, but ts_rank_cd builds and sorts a position list and searches covers for
 * every match. Over 100,000 agents `legal contracts` matches 2,288: per call, PostgreSQL spent
 * 10.3-11.2 ms of CPU on the two statements of the ts_rank_cd version and spends 8.0-8.3 ms on this
 * one, where counting the matches alone (the floor of any exact total) takes 4.8-5.3 ms. No exact bound
 * of ts_rank_cd cheap enough to skip most of that scoring was found: its value depends on the
 * distances between the query's words in each agent, which only the agent's vector holds.
 */
export async function discoverAgents(
  db: Queryable,
  f: Filter,
  w: DiscoveryWeights,
): Promise<{ results: DiscoveredAgent[]; total: number }> {
  type Ranked = Record<string, unknown> & {
    id: string | null;
    relevance: number;
    score: number;
    trust: number;
    usefulness: number;
  };
  let page: Ranked[];
  let total: number;
  if (f.q) {
    // One cheap ts_rank per match on the rows the count reads anyway, then the count and the page
    // with its agents in full, in one statement (one round trip).
    const { rows } = await db.query<Ranked & { total: string }>(
      unprepared(
        `WITH m AS MATERIALIZED (
         SELECT a.id, ${RELEVANCE} AS relevance, a.rank_base
           FROM agents a WHERE ${MATCH}
       ), p AS (
         SELECT id, relevance, $3::float8 * relevance + rank_base AS score FROM m
          ORDER BY score DESC, id LIMIT $4 OFFSET $5
       )
       SELECT (SELECT count(*) FROM m) AS total, ${AGENT_COLUMNS}, p.relevance, p.score,
              coalesce(r.trust_score, 0.5) AS trust, coalesce(u.score, 0) AS usefulness
         FROM (SELECT 1) one LEFT JOIN (
           p JOIN agents a ON a.id = p.id
             LEFT JOIN reputations r ON r.did = a.did LEFT JOIN agent_usefulness u ON u.did = a.did
         ) ON true
        ORDER BY p.score DESC, p.id`,
        [f.q, f.tag ?? null, w.relevance, f.limit, f.offset, positiveSearchText(f.q)],
      ),
    );
    total = Number(rows[0]?.total ?? 0);
    page = rows.filter((r) => r.id !== null).map(({ total: _, ...r }) => r);
  } else {
    const [ranked, count] = await Promise.all([
      db.query<{ id: string; relevance: number; score: number }>(
        unprepared(
          `SELECT a.id, 0::float8 AS relevance, a.rank_base AS score
           FROM agents a WHERE ${MATCH} ORDER BY a.rank_base DESC, a.id LIMIT $3 OFFSET $4`,
          [null, f.tag ?? null, f.limit, f.offset],
        ),
      ),
      f.tag
        ? countByTag(db, f.tag, 'active')
        : db.query<{ n: string }>(`SELECT count(*) AS n FROM agents a WHERE a.status = 'active'`),
    ]);
    total = Number(count.rows[0]!.n);
    const agents = ranked.rows.length
      ? await db.query<Ranked>(
          `SELECT ${AGENT_COLUMNS}, coalesce(p.trust_score, 0.5) AS trust, coalesce(u.score, 0) AS usefulness
             FROM agents a LEFT JOIN reputations p ON p.did = a.did LEFT JOIN agent_usefulness u ON u.did = a.did
            WHERE a.id = ANY($1::uuid[])`,
          [ranked.rows.map((p) => p.id)],
        )
      : { rows: [] as Ranked[] };
    const byId = new Map(agents.rows.map((r) => [r.id, r]));
    page = ranked.rows.flatMap((p) => {
      const agent = byId.get(p.id);
      return agent ? [{ ...agent, relevance: p.relevance, score: p.score }] : [];
    });
  }
  const round = (x: number) => Math.round(x * 1e6) / 1e6;
  return {
    total,
    results: page.map(({ relevance, score, trust, usefulness, ...agent }) => ({
      agent: toAgent(agent as Parameters<typeof toAgent>[0]),
      score: round(score),
      relevance: round(relevance),
      trust: round(trust),
      usefulness: round(usefulness),
    })),
  };
}
