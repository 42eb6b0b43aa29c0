import { DIMENSIONS, NEUTRAL, type Dimension, type Reputation } from '../domain/reputation.js';
import { eventsWritten, type NewEvent } from './event-repository.js';
import type pg from 'pg';
import { queryThenCommit } from './db.js';
import { iso, type Queryable } from './sql.js';

export interface ReputationRecord extends Reputation {
  did: string;
  trust_score: number;
  tasks_finalized: number;
  updated_at: string | null;
}

/** Locks the reputation rows of `dids` (created at neutral when missing), in DID order to avoid deadlocks. */
export async function lockReputations(tx: Queryable, dids: string[]): Promise<Map<string, ReputationRecord>> {
  const sorted = [...new Set(dids)].sort();
  await tx.query(
    `INSERT INTO reputations (did) SELECT unnest($1::text[]) ORDER BY 1 ON CONFLICT (did) DO NOTHING`,
    [sorted],
  );
  const { rows } = await tx.query(
    `SELECT did, q, t, r, s, v, i, e, trust_score, tasks_finalized, updated_at FROM reputations
      WHERE did = ANY($1::text[]) ORDER BY did FOR UPDATE`,
    [sorted],
  );
  return new Map(
    rows.map((r) => [r.did as string, { ...r, updated_at: iso(r.updated_at) } as ReputationRecord]),
  );
}

export async function saveReputations(tx: Queryable, records: ReputationRecord[]): Promise<void> {
  if (!records.length) return;
  const col = (d: keyof ReputationRecord) => records.map((r) => r[d]);
  await tx.query(
    `UPDATE reputations p SET q = u.q, t = u.t, r = u.r, s = u.s, v = u.v, i = u.i, e = u.e, trust_score = u.trust_score,
            tasks_finalized = u.tasks_finalized, updates = p.updates + 1, updated_at = now()
       FROM unnest($1::text[], $2::float8[], $3::float8[], $4::float8[], $5::float8[], $6::float8[], $7::float8[],
                   $8::float8[], $9::float8[], $10::int[]) AS u(did, q, t, r, s, v, i, e, trust_score, tasks_finalized)
      WHERE p.did = u.did`,
    [col('did'), ...DIMENSIONS.map((d) => col(d)), col('trust_score'), col('tasks_finalized')],
  );
}

export async function findReputation(db: Queryable, did: string): Promise<ReputationRecord | undefined> {
  const { rows } = await db.query(
    `SELECT did, q, t, r, s, v, i, e, trust_score, tasks_finalized, updated_at FROM reputations WHERE did = $1`,
    [did],
  );
  return rows[0] && { ...rows[0], updated_at: iso(rows[0].updated_at) };
}

export const neutralReputation = (did: string): ReputationRecord => ({
  did,
  ...NEUTRAL,
  trust_score: 0.5,
  tasks_finalized: 0,
  updated_at: null,
});

/**
 * Agents that may sit on a committee for a task between the DIDs in `exclude` (its provider and
 * client): active, with at least `minStake` in their stake account (real funds, SPEC section 10)
 * locked at least until `lockedUntil` (so it cannot be withdrawn while the receipt may still be
 * slashed), neither of them, and not owned by the owner of either.
 */
export async function eligibleCandidates(
  db: Queryable,
  minStake: string,
  exclude: string[],
  lockedUntil: Date,
) {
  const { rows } = await db.query<{ did: string; trust_score: number; owner_address: string }>(
    `SELECT a.did, coalesce(p.trust_score, 0.5) AS trust_score, a.owner_address
       FROM agents a
       JOIN ledger_balances la ON la.account = 'stake:' || a.did AND la.shard = 0 -- a DID's account has one shard
       JOIN stakes st ON st.did = a.did
       LEFT JOIN reputations p ON p.did = a.did
      WHERE a.did IS NOT NULL AND a.status = 'active' AND a.did <> ALL($2::text[])
        AND a.owner_address NOT IN (SELECT x.owner_address FROM agents x WHERE x.did = ANY($2::text[]))
        AND la.balance_atomic >= $1::numeric AND la.balance_atomic > 0 AND st.unlock_at >= $3
      ORDER BY a.did`,
    [minStake, exclude, lockedUntil],
  );
  return rows;
}

export interface StakeRecord {
  did: string;
  locked_atomic: string;
  unlock_at: string | null;
}

/** Locks the stake row of `did` (creating it) and returns when it unlocks. */
export async function lockStake(tx: Queryable, did: string): Promise<{ unlock_at: Date | null }> {
  const { rows } = await tx.query<{ unlock_at: Date | null }>(
    `INSERT INTO stakes (did, locked_atomic) VALUES ($1, 0)
     ON CONFLICT (did) DO UPDATE SET updated_at = stakes.updated_at
     RETURNING unlock_at`,
    [did],
  );
  return rows[0]!;
}

/**
 * Records the stake after a transfer moved it: the balance of the stake account (mirrored into
 * locked_atomic, which the previous release reads) and an unlock time pushed out to at least
 * `lockSeconds` from now (never earlier than it was).
 */
export async function recordStake(
  tx: Queryable,
  did: string,
  lockSeconds: number | null,
): Promise<StakeRecord> {
  const { rows } = await tx.query<{ did: string; locked_atomic: string; unlock_at: Date | null }>(
    `UPDATE stakes s SET
        locked_atomic = coalesce((SELECT balance_atomic FROM ledger_accounts WHERE account = 'stake:' || s.did), 0),
        unlock_at = CASE WHEN $2::int IS NULL THEN s.unlock_at
                         ELSE greatest(coalesce(s.unlock_at, now()), now() + make_interval(secs => $2::int)) END,
        updated_at = now()
      WHERE s.did = $1
      RETURNING did, locked_atomic::text AS locked_atomic, unlock_at`,
    [did, lockSeconds],
  );
  return { ...rows[0]!, unlock_at: iso(rows[0]!.unlock_at) };
}

export async function insertSlash(
  tx: Queryable,
  s: { did: string; amount: string; applied: string; reason: string },
): Promise<string> {
  const { rows } = await tx.query<{ id: string }>(
    `INSERT INTO slashes (did, amount_atomic, applied_atomic, reason) VALUES ($1, $2, $3, $4) RETURNING id`,
    [s.did, s.amount, s.applied, s.reason],
  );
  return rows[0]!.id;
}

/**
 * Closes one pending receipt and, in the same statement, appends its event and (with an
 * observation) moves its provider's reputation and rank base: one round trip. The EWMA and the
 * trust score are those of domain/reputation.ts (applyEwma, trustScore), written in SQL with the
 * same float8 operations in the same order, computed from the row as locked by this UPDATE (so a
 * concurrent update of it is never lost); the rank base is refreshRankBase's. Returns whether the
 * receipt left pending here (nothing else is written when it did not). The statement ends the
 * caller's transaction: it is sent with its COMMIT (queryThenCommit), so the provider's reputation
 * and agent rows, which every finalization of that provider updates, are locked only while the
 * server runs it and commits.
 */
export async function closeAndScore(
  tx: pg.PoolClient,
  c: {
    taskId: string;
    status: string;
    agentDid: string;
    event: NewEvent;
    observation: Partial<Reputation> | undefined;
    alpha: number;
    weights: { trust: number; usefulness: number };
  },
): Promise<boolean> {
  // $1 task, $2 status, $3 event, $4 did, $5 scores?, $6 alpha, $7.. $13 observations, $14 wt, $15 wu
  const obs = (d: Dimension) => `$${7 + DIMENSIONS.indexOf(d)}::float8`;
  const ewma = (d: Dimension) =>
    `(CASE WHEN ${obs(d)} IS NULL THEN p.${d} ELSE (1 - $6::float8) * p.${d} + $6::float8 * ${obs(d)} END)`;
  const rows = await queryThenCommit<{ moved: boolean }>(
    tx,
    `WITH c AS (
       UPDATE receipts SET status = $2, finalized_at = now() WHERE task_id = $1 AND status = 'pending' RETURNING task_id
     ), ev AS (
       INSERT INTO events (type, recipients, payload)
       SELECT e.type, ARRAY(SELECT jsonb_array_elements_text(e.recipients)), e.payload
         FROM jsonb_to_record($3::jsonb) AS e(type text, recipients jsonb, payload jsonb)
        WHERE EXISTS (SELECT 1 FROM c)
       RETURNING 1
     ), rep AS (
       UPDATE reputations p SET ${DIMENSIONS.map((d) => `${d} = ${ewma(d)}`).join(', ')},
              trust_score = 0.35 * ${ewma('r')} + 0.35 * ${ewma('v')} + 0.2 * ${ewma('q')} + 0.1 * ${ewma('t')},
              tasks_finalized = p.tasks_finalized + CASE WHEN $2 = 'finalized' THEN 1 ELSE 0 END,
              updates = p.updates + 1, updated_at = now()
        WHERE p.did = $4 AND $5::boolean AND EXISTS (SELECT 1 FROM c)
       RETURNING p.did, p.trust_score
     ), rb AS (
       UPDATE agents a SET rank_base = $14::float8 * rep.trust_score + $15::float8 * coalesce(u.score, 0) / 100
         FROM rep LEFT JOIN agent_usefulness u ON u.did = rep.did
        WHERE a.did = rep.did
          AND a.rank_base IS DISTINCT FROM $14::float8 * rep.trust_score + $15::float8 * coalesce(u.score, 0) / 100
     )
     SELECT EXISTS (SELECT 1 FROM c) AS moved, (SELECT count(*) FROM rep) AS scored, (SELECT count(*) FROM ev) AS events`,
    [
      c.taskId,
      c.status,
      JSON.stringify({ ...c.event, recipients: [...new Set(c.event.recipients)] }),
      c.agentDid,
      c.observation !== undefined,
      c.alpha,
      ...DIMENSIONS.map((d) => c.observation?.[d] ?? null),
      c.weights.trust,
      c.weights.usefulness,
    ],
  );
  if (rows[0]!.moved) eventsWritten(tx);
  return rows[0]!.moved;
}
