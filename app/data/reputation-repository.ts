import { DIMENSIONS, NEUTRAL, type Reputation } from '../domain/reputation.js';
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

/** Committee candidates: active agents with a DID and enough locked stake, with their trust score. */
/**
 * Agents that may sit on a committee for a task between the DIDs in `exclude` (its provider and
 * client): active, staked enough, neither of them, and not owned by the owner of either.
 */
export async function eligibleCandidates(db: Queryable, minStake: string, exclude: string[]) {
  const { rows } = await db.query<{ did: string; trust_score: number; owner_address: string }>(
    `SELECT a.did, coalesce(p.trust_score, 0.5) AS trust_score, a.owner_address
       FROM agents a
       LEFT JOIN stakes st ON st.did = a.did
       LEFT JOIN reputations p ON p.did = a.did
      WHERE a.did IS NOT NULL AND a.status = 'active' AND a.did <> ALL($2::text[])
        AND a.owner_address NOT IN (SELECT x.owner_address FROM agents x WHERE x.did = ANY($2::text[]))
        AND coalesce(st.locked_atomic, 0) >= $1::numeric
      ORDER BY a.did`,
    [minStake, exclude],
  );
  return rows;
}

export async function addStake(db: Queryable, did: string, amount: string, lockSeconds: number) {
  const { rows } = await db.query<{ did: string; locked_atomic: string; unlock_at: Date }>(
    `INSERT INTO stakes (did, locked_atomic, unlock_at) VALUES ($1, $2, now() + make_interval(secs => $3))
     ON CONFLICT (did) DO UPDATE SET locked_atomic = stakes.locked_atomic + EXCLUDED.locked_atomic,
       unlock_at = greatest(stakes.unlock_at, EXCLUDED.unlock_at), updated_at = now()
     RETURNING did, locked_atomic::text AS locked_atomic, unlock_at`,
    [did, amount, lockSeconds],
  );
  return { ...rows[0]!, unlock_at: iso(rows[0]!.unlock_at) };
}

/** Reduces the locked stake by up to `amount` (never below zero); returns what was applied. */
export async function slashStake(tx: Queryable, did: string, amount: string, reason: string) {
  const { rows } = await tx.query<{ before: string; after: string }>(
    `WITH prev AS (SELECT locked_atomic FROM stakes WHERE did = $1 FOR UPDATE)
     UPDATE stakes s SET locked_atomic = greatest(0, s.locked_atomic - $2::numeric), updated_at = now()
       FROM prev WHERE s.did = $1
     RETURNING prev.locked_atomic::text AS before, s.locked_atomic::text AS after`,
    [did, amount],
  );
  const before = BigInt(rows[0]?.before ?? '0');
  const after = BigInt(rows[0]?.after ?? '0');
  const applied = (before - after).toString();
  await tx.query(`INSERT INTO slashes (did, amount_atomic, applied_atomic, reason) VALUES ($1, $2, $3, $4)`, [
    did,
    amount,
    applied,
    reason,
  ]);
  return { did, requested_atomic: amount, applied_atomic: applied, locked_atomic: after.toString() };
}
