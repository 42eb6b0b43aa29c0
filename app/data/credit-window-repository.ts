import type { Queryable } from './sql.js';

/** The window after the last one paid; undefined when none was ever paid. */
export async function nextUnpaidWindow(db: Queryable): Promise<Date | undefined> {
  const { rows } = await db.query<{ next: Date | null }>(
    `SELECT max(window_start) + interval '1 hour' AS next FROM credit_windows`,
  );
  return rows[0]?.next ?? undefined;
}

export async function carriedInto(tx: Queryable, windowStart: Date): Promise<bigint> {
  const { rows } = await tx.query<{ carried: string }>(
    `SELECT carried_out_atomic::text AS carried FROM credit_windows WHERE window_start < $1 ORDER BY window_start DESC LIMIT 1`,
    [windowStart],
  );
  return BigInt(rows[0]?.carried ?? '0');
}

export async function rewardCandidates(
  tx: Queryable,
  minScore: number,
): Promise<{ did: string; score: number }[]> {
  const { rows } = await tx.query<{ did: string; score: number }>(
    `SELECT did, score FROM agent_usefulness WHERE score >= $1 AND score > 0 ORDER BY did`,
    [minScore],
  );
  return rows;
}

/**
 * Claims a window by inserting its row; false when another run paid (or is paying) it. A
 * concurrent claimer waits on the primary key until the first commits, then sees the conflict.
 */
export async function claimWindow(
  tx: Queryable,
  w: {
    start: Date;
    pool: bigint;
    carriedIn: bigint;
    distributed: bigint;
    carriedOut: bigint;
    recipients: number;
  },
): Promise<boolean> {
  const { rowCount } = await tx.query(
    `INSERT INTO credit_windows (window_start, pool_atomic, carried_in_atomic, distributed_atomic, carried_out_atomic, recipients)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (window_start) DO NOTHING`,
    [
      w.start,
      w.pool.toString(),
      w.carriedIn.toString(),
      w.distributed.toString(),
      w.carriedOut.toString(),
      w.recipients,
    ],
  );
  return rowCount === 1;
}
