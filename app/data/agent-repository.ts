import type { TrustThresholds } from '../domain/feedback-summary.js';
import type { PatchAgentInput, RegisterAgentInput, SearchAgentsInput } from '../schemas/registry.js';
import { iso, unprepared, type Queryable } from './sql.js';

export interface AgentRecord {
  id: string;
  agent_id: number;
  chain_id: number;
  owner_address: string;
  name: string;
  description: string;
  did: string | null;
  image: string | null;
  services: RegisterAgentInput['services'];
  x402_support: boolean;
  supported_trust: RegisterAgentInput['supported_trust'];
  metadata: Record<string, string>;
  tags: string[];
  status: 'active' | 'inactive';
  created_at: string;
  updated_at: string;
}

type Row = Omit<AgentRecord, 'agent_id' | 'chain_id' | 'created_at' | 'updated_at'> & {
  agent_id: string;
  chain_id: string;
  created_at: Date;
  updated_at: Date;
};

export const AGENT_COLUMNS = `a.id, a.agent_id, a.chain_id, a.owner_address, a.name, a.description, a.did, a.image,
  a.services, a.x402_support, a.supported_trust, a.metadata, a.tags, a.status, a.created_at, a.updated_at`;

export const toAgent = (r: Row): AgentRecord => ({
  ...r,
  agent_id: Number(r.agent_id),
  chain_id: Number(r.chain_id),
  created_at: iso(r.created_at)!,
  updated_at: iso(r.updated_at)!,
});

/**
 * `count` new ERC-8004 agent ids for each chain of `counts`, in one statement: the first of each
 * chain's block (the block is first .. first + count - 1). Unique and increasing per chain, gaps
 * allowed (a failed registration does not give its number back). The chains' counter rows are
 * locked in ascending order, so two batches cannot deadlock on them.
 *
 * The counter row is the one hot row of registration, so it is bumped in a transaction of its own
 * that holds the row's lock for one statement, not for the registration's whole transaction (a
 * profile under 50 concurrent registrations found 16 of 20 database sessions waiting on it). That
 * transaction commits asynchronously, so the lock is not held through a WAL flush either. This is
 * safe: the WAL is flushed in order, and the registration that uses the number commits
 * synchronously after it, so no durable agent can hold a number whose bump was lost in a crash.
 */
export async function nextAgentIds(
  db: Queryable,
  counts: ReadonlyMap<number, number>,
): Promise<Map<number, number>> {
  const chains = [...counts.keys()].sort((x, y) => x - y);
  for (const c of chains) {
    const n = counts.get(c)!;
    if (!Number.isSafeInteger(c) || c <= 0) throw new Error(`invalid chain id ${c}`);
    if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`invalid id count ${n}`);
  }
  if (!chains.length) return new Map();
  // One round trip: two statements in one simple query run as one implicit transaction (rolled
  // back whole on an error, so the connection goes back to the pool clean); set_config(..., true)
  // applies to that transaction only. Chain ids and counts are checked integers, and a simple
  // query takes no parameters.
  const values = chains.map((c) => `(${c}, ${counts.get(c)})`).join(', ');
  const results = (await db.query(
    `SELECT set_config('synchronous_commit', 'off', true);
     INSERT INTO chain_agent_counters (chain_id, last_agent_id) VALUES ${values}
       ON CONFLICT (chain_id) DO UPDATE SET last_agent_id = chain_agent_counters.last_agent_id + EXCLUDED.last_agent_id
       RETURNING chain_id, last_agent_id`,
  )) as unknown as Array<{ rows: Array<{ chain_id: string; last_agent_id: string }> }>;
  return new Map(
    results[1]!.rows.map((r) => {
      const chain = Number(r.chain_id);
      return [chain, Number(r.last_agent_id) - counts.get(chain)! + 1];
    }),
  );
}

/** One agent of a batch registration: its input, owner and the id given to it. */
export interface NewAgent {
  input: RegisterAgentInput;
  owner: string;
  agentId: number;
}

/**
 * Inserts a batch of agents (one or more) in one statement and one round trip, each with its id,
 * its feedback counters and its discovery rank base (from the DID's reputation and usefulness, as
 * refreshRankBase computes it): one version of each row, no second UPDATE rewriting every index.
 * One result per agent, in order, `undefined` where its DID was already bound (before, or by an
 * earlier agent of the same batch). Any other refusal fails the statement whole, and nothing of it
 * is written.
 */
export async function insertAgents(
  db: Queryable,
  agents: readonly NewAgent[],
  weights: { trust: number; usefulness: number },
): Promise<(AgentRecord | undefined)[]> {
  const batch = agents.map(({ input, owner, agentId }, ord) => ({
    ord,
    chain_id: input.chain_id,
    agent_id: agentId,
    owner_address: owner,
    name: input.name,
    description: input.description,
    did: input.did ?? null,
    image: input.image ?? null,
    services: input.services,
    x402_support: input.x402_support,
    supported_trust: input.supported_trust,
    metadata: input.metadata,
    tags: input.tags,
  }));
  // The batch crosses as one JSON array (text arrays as JSON arrays, since unnest() would flatten
  // an array of arrays), so the text never changes: a prepared statement per connection, planned
  // once, where planning this statement each time doubled a lone registration's database CPU.
  const { rows } = await db.query<Row>({
    name: 'insert-agents',
    text: `WITH t AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS t(ord int, chain_id bigint, agent_id bigint, owner_address text,
         name text, description text, did text, image text, services jsonb, x402_support boolean,
         supported_trust jsonb, metadata jsonb, tags jsonb)
     ), a AS (
       INSERT INTO agents AS a (chain_id, agent_id, owner_address, name, description, did, image, services,
                                x402_support, supported_trust, metadata, tags, rank_base)
       SELECT t.chain_id, t.agent_id, t.owner_address, t.name, t.description, t.did, t.image, t.services,
              t.x402_support, ARRAY(SELECT jsonb_array_elements_text(t.supported_trust)), t.metadata,
              ARRAY(SELECT jsonb_array_elements_text(t.tags)),
              $2::float8 * coalesce((SELECT trust_score FROM reputations WHERE did = t.did), 0.5)
            + $3::float8 * coalesce((SELECT score FROM agent_usefulness WHERE did = t.did), 0) / 100
         FROM t
        ORDER BY t.did, t.ord -- DIDs taken in one order by every batch (no deadlock), the first of a DID wins
       ON CONFLICT (did) DO NOTHING
       RETURNING ${AGENT_COLUMNS}
     ), stats AS (
       INSERT INTO agent_feedback_stats (agent_uuid) SELECT id FROM a
     )
     SELECT * FROM a`,
    values: [JSON.stringify(batch), weights.trust, weights.usefulness],
  });
  const byId = new Map(rows.map((r) => [`${r.chain_id}:${r.agent_id}`, toAgent(r)]));
  return agents.map((a) => byId.get(`${a.input.chain_id}:${a.agentId}`));
}

/** A registration before its id: the input and its owner address. */
export type Registration = Omit<NewAgent, 'agentId'>;

/**
 * Registers a batch (one or more): ids taken in one counter bump per chain (nextAgentIds), in the
 * batch's order, then the rows inserted in one statement (insertAgents). One result per
 * registration, in order, `undefined` where its DID was already bound.
 */
export async function registerAgents(
  db: Queryable,
  items: readonly Registration[],
  weights: { trust: number; usefulness: number },
): Promise<(AgentRecord | undefined)[]> {
  const counts = new Map<number, number>();
  for (const { input } of items) counts.set(input.chain_id, (counts.get(input.chain_id) ?? 0) + 1);
  const next = await nextAgentIds(db, counts);
  const agents = items.map(({ input, owner }) => {
    const agentId = next.get(input.chain_id)!;
    next.set(input.chain_id, agentId + 1);
    return { input, owner, agentId };
  });
  return insertAgents(db, agents, weights);
}

export async function findAgent(db: Queryable, id: string): Promise<AgentRecord | undefined> {
  // Named: a prepared statement per connection, parsed and planned once (the hottest read).
  const { rows } = await db.query<Row>({
    name: 'agent-by-id',
    text: `SELECT ${AGENT_COLUMNS} FROM agents a WHERE a.id = $1`,
    values: [id],
  });
  return rows[0] && toAgent(rows[0]);
}

export async function findActiveAgentByDid(db: Queryable, did: string): Promise<AgentRecord | undefined> {
  const { rows } = await db.query<Row>(
    `SELECT ${AGENT_COLUMNS} FROM agents a WHERE a.did = $1 AND a.status = 'active'`,
    [did],
  );
  return rows[0] && toAgent(rows[0]);
}

export async function agentIdsByDid(db: Queryable, dids: string[]): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(`SELECT id FROM agents WHERE did = ANY($1::text[])`, [
    dids,
  ]);
  return rows.map((r) => r.id);
}

const PATCHABLE = [
  'name',
  'description',
  'image',
  'services',
  'x402_support',
  'supported_trust',
  'metadata',
  'tags',
  'status',
] as const;
const JSON_COLUMNS = new Set(['services', 'metadata']);

/** Applies the given fields; column names come from the fixed list above, values are parameters. */
export async function updateAgent(
  db: Queryable,
  id: string,
  patch: PatchAgentInput,
): Promise<AgentRecord | undefined> {
  const sets: string[] = [];
  const values: unknown[] = [id];
  for (const column of PATCHABLE) {
    const value = patch[column];
    if (value === undefined) continue;
    values.push(JSON_COLUMNS.has(column) ? JSON.stringify(value) : value);
    sets.push(`${column} = $${values.length}`);
  }
  const { rows } = await db.query<Row>(
    `UPDATE agents a SET ${sets.join(', ')}, updated_at = now() WHERE a.id = $1 RETURNING ${AGENT_COLUMNS}`,
    values,
  );
  return rows[0] && toAgent(rows[0]);
}

/**
 * SQL for the average and trust level of an agent from its feedback aggregate `s`, with the
 * thresholds as parameters starting at `$first` (the same rule as domain/reputation-summary.ts).
 */
export function trustLevelSql(first: number): string {
  const p = (i: number) => `$${first + i}`;
  const avg = `(CASE WHEN s.total > 0 THEN s.score_sum / s.total ELSE 0 END)`;
  const rate = `(CASE WHEN s.total > 0 THEN s.positive::numeric / s.total ELSE 0 END)`;
  return `(CASE WHEN s.total < ${p(0)} THEN 'new'
    WHEN ${avg} >= ${p(1)} AND ${rate} >= ${p(2)} THEN 'excellent'
    WHEN ${avg} >= ${p(3)} AND ${rate} >= ${p(4)} THEN 'good'
    WHEN ${avg} >= ${p(5)} AND ${rate} >= ${p(6)} THEN 'fair'
    ELSE 'poor' END)`;
}
export const thresholdParams = (t: TrustThresholds) => [
  t.minFeedback,
  t.excellent.average,
  t.excellent.successRate,
  t.good.average,
  t.good.successRate,
  t.fair.average,
  t.fair.successRate,
];

/**
 * Search's statements go unprepared (sql.ts `unprepared`): how many agents a text or a tag matches
 * decides the plan (a text's GIN matches, or the created_at order stopped at the limit), and a
 * generic plan cannot see it. Measured with them prepared, 100,000 agents, q=legal contracts at 8
 * clients: 4.1-4.6 ms of PostgreSQL CPU a request against 2.6-2.8 ms for the same call unprepared.
 */
export async function searchAgents(
  db: Queryable,
  f: SearchAgentsInput,
  thresholds: TrustThresholds,
): Promise<{ agents: AgentRecord[]; total: number }> {
  const where: string[] = [];
  const values: unknown[] = [];
  const param = (v: unknown) => {
    values.push(v);
    return `$${values.length}`;
  };
  if (f.status !== 'all') where.push(`a.status = ${param(f.status)}`);
  if (f.owner_address) where.push(`a.owner_address = ${param(f.owner_address)}`);
  if (f.chain_id) where.push(`a.chain_id = ${param(f.chain_id)}`);
  if (f.tag) where.push(`a.tags @> ARRAY[${param(f.tag)}]::text[]`);
  let rank: string | undefined;
  if (f.q) {
    const q = param(f.q);
    where.push(`a.search_vector @@ websearch_to_tsquery('english', ${q})`);
    rank = `ts_rank(a.search_vector, websearch_to_tsquery('english', ${q}))`;
  }
  if (f.min_reputation !== undefined) {
    where.push(`(CASE WHEN s.total > 0 THEN s.score_sum / s.total ELSE 0 END) >= ${param(f.min_reputation)}`);
  }
  if (f.trust_level) {
    const first = values.length + 1;
    values.push(...thresholdParams(thresholds));
    where.push(`${trustLevelSql(first)} = ${param(f.trust_level)}`);
  }
  // The feedback counters are joined only for the filters that read them (every agent has its row).
  const from = `agents a${f.min_reputation !== undefined || f.trust_level ? ' JOIN agent_feedback_stats s ON s.agent_uuid = a.id' : ''}`;
  const filter = where.length ? `WHERE ${where.join(' AND ')}` : '';
  const counted = values.length;
  const limit = param(f.limit);
  const offset = param(f.offset);

  if (rank) {
    // A text query ranks every match anyway, so one pass over them gives the page and the total:
    // the matches are ranked once on narrow rows, counted, and only the page is read in full
    // (q=legal contracts over 100,000 agents, 8 clients: 287 pages/s, 242 as two queries).
    const { rows } = await db.query<Row & { total: string }>(
      unprepared(
        `WITH m AS MATERIALIZED (
         SELECT a.id, a.created_at, ${rank} AS rank FROM ${from} ${filter}
       ), p AS (SELECT id, created_at, rank FROM m ORDER BY rank DESC, created_at DESC, id LIMIT ${limit} OFFSET ${offset})
       SELECT (SELECT count(*) FROM m) AS total, ${AGENT_COLUMNS}
         FROM (SELECT 1) one LEFT JOIN (p JOIN agents a ON a.id = p.id) ON true
        ORDER BY p.rank DESC, p.created_at DESC, p.id`,
        values,
      ),
    );
    const total = Number(rows[0]?.total ?? 0);
    return { agents: rows.filter((r) => r.id !== null).map(({ total: _, ...r }) => toAgent(r)), total };
  }
  // Otherwise the page and the total as two queries, in parallel: the page reads its rows in index
  // order and stops at the limit, where a count(*) OVER () beside it had to read every match in
  // full (measured over 100,000 agents, tag=finance: 81 ms with the window, 1.5 ms for the page
  // and 15 ms for the count apart). A count by tag alone is an index-only scan of agent_tags
  // (migration 0009).
  const [page, count] = await Promise.all([
    db.query<Row>(
      unprepared(
        `SELECT ${AGENT_COLUMNS} FROM ${from} ${filter} ORDER BY a.created_at DESC, a.id LIMIT ${limit} OFFSET ${offset}`,
        values,
      ),
    ),
    tagOnly(f)
      ? countByTag(db, f.tag!, f.status)
      : db.query<{ n: string }>(
          unprepared(`SELECT count(*) AS n FROM ${from} ${filter}`, values.slice(0, counted)),
        ),
  ]);
  return { agents: page.rows.map(toAgent), total: Number(count.rows[0]!.n) };
}

/** A search whose only filters are a tag and a status (the total agent_tags can count). */
const tagOnly = (f: SearchAgentsInput) =>
  f.tag !== undefined &&
  !f.q &&
  !f.owner_address &&
  !f.chain_id &&
  f.min_reputation === undefined &&
  !f.trust_level;

/** The agents with this tag and status (any status for 'all'), from agent_tags' primary key. */
export function countByTag(db: Queryable, tag: string, status: 'active' | 'inactive' | 'all') {
  return status === 'all'
    ? db.query<{ n: string }>('SELECT count(*) AS n FROM agent_tags WHERE tag = $1', [tag])
    : db.query<{ n: string }>('SELECT count(*) AS n FROM agent_tags WHERE tag = $1 AND status = $2', [
        tag,
        status,
      ]);
}
