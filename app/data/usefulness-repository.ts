import { iso, isUniqueViolation, type Queryable } from './sql.js';
import type { ProofMetrics } from '../domain/usefulness.js';
import type { ProofInput } from '../schemas/pou.js';

/** Serialises one agent's proof submissions (the hourly cap and burst checks count, then insert). */
export async function lockAgentProofs(tx: Queryable, did: string): Promise<void> {
  await tx.query(`SELECT pg_advisory_xact_lock(hashtext('usefulness:' || $1))`, [did]);
}

export async function recentProofCounts(
  tx: Queryable,
  did: string,
  nearPerfect: number,
  burstMinutes: number,
) {
  const { rows } = await tx.query<{ last_hour: number; burst: number }>(
    `SELECT count(*)::int AS last_hour,
            count(*) FILTER (WHERE score >= $2 AND created_at > now() - make_interval(mins => $3))::int AS burst
       FROM usefulness_proofs WHERE agent_did = $1 AND created_at > now() - interval '1 hour'`,
    [did, nearPerfect, burstMinutes],
  );
  return rows[0]!;
}

/** Returns undefined when the trace_id was used before. */
export async function insertProof(
  tx: Queryable,
  p: ProofMetrics &
    Omit<ProofInput, 'metrics'> & {
      did: string;
      score: number;
      flagged: boolean;
      flag_reason: string | null;
    },
) {
  try {
    const { rows } = await tx.query<{ id: string; created_at: Date }>(
      `INSERT INTO usefulness_proofs (agent_did, trace_id, task_id, compute_ms, memory_mb, hops, checks, samples, score, flagged, flag_reason, receipt_bound)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, true) RETURNING id, created_at`,
      [
        p.did,
        p.trace_id,
        p.task_id ?? null,
        p.compute_ms,
        p.memory_mb,
        p.hops,
        p.checks,
        p.samples,
        p.score,
        p.flagged,
        p.flag_reason,
      ],
    );
    return { id: rows[0]!.id, created_at: iso(rows[0]!.created_at)! };
  } catch (err) {
    if (isUniqueViolation(err, 'usefulness_proofs_one_per_receipt_idx')) return 'task_id' as const;
    if (isUniqueViolation(err)) return 'trace_id' as const;
    throw err;
  }
}

export async function usefulnessOf(db: Queryable, did: string, windowDays: number) {
  const { rows } = await db.query<{
    score: number | null;
    proofs: number;
    flagged: number;
    computed: number | null;
    computed_at: Date | null;
  }>(
    `SELECT (SELECT score FROM agent_usefulness WHERE did = $1) AS computed,
            (SELECT computed_at FROM agent_usefulness WHERE did = $1) AS computed_at,
            avg(score) FILTER (WHERE NOT flagged) AS score,
            count(*) FILTER (WHERE NOT flagged)::int AS proofs,
            count(*) FILTER (WHERE flagged)::int AS flagged
       FROM usefulness_proofs WHERE agent_did = $1 AND created_at > now() - make_interval(days => $2)`,
    [did, windowDays],
  );
  return rows[0]!;
}

/**
 * Recomputes every agent's usefulness (average unflagged score over the window) in one statement;
 * agents whose proofs all aged out drop to 0.
 */
export async function aggregateUsefulness(
  db: Queryable,
  windowDays: number,
): Promise<{ updated: number; zeroed: number }> {
  const updated = await db.query(
    `INSERT INTO agent_usefulness (did, score, proofs, computed_at)
     SELECT agent_did, avg(score), count(*), now() FROM usefulness_proofs
      WHERE NOT flagged AND created_at > now() - make_interval(days => $1)
      GROUP BY agent_did
     ON CONFLICT (did) DO UPDATE SET score = EXCLUDED.score, proofs = EXCLUDED.proofs, computed_at = EXCLUDED.computed_at`,
    [windowDays],
  );
  const zeroed = await db.query(
    `UPDATE agent_usefulness u SET score = 0, proofs = 0, computed_at = now()
      WHERE u.proofs > 0 AND NOT EXISTS (
        SELECT 1 FROM usefulness_proofs p
         WHERE p.agent_did = u.did AND NOT p.flagged AND p.created_at > now() - make_interval(days => $1))`,
    [windowDays],
  );
  return { updated: updated.rowCount ?? 0, zeroed: zeroed.rowCount ?? 0 };
}

export async function usefulnessScores(db: Queryable, dids: string[]): Promise<Map<string, number>> {
  const { rows } = await db.query<{ did: string; score: number }>(
    `SELECT did, score FROM agent_usefulness WHERE did = ANY($1::text[])`,
    [dids],
  );
  return new Map(rows.map((r) => [r.did, r.score]));
}
