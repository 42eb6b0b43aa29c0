import type { Queryable } from './sql.js';

/** Opens the record of one job run (started now); returns its id. */
export async function startJobRun(db: Queryable, job: string): Promise<string> {
  const { rows } = await db.query<{ id: string }>(`INSERT INTO job_runs (job) VALUES ($1) RETURNING id`, [
    job,
  ]);
  return rows[0]!.id;
}

/** Closes a job run with its outcome, the counts it reported and the error that ended it. */
export async function finishJobRun(
  db: Queryable,
  id: string,
  run: { outcome: 'success' | 'failure'; counts: Record<string, number>; error?: string | undefined },
): Promise<void> {
  await db.query(
    `UPDATE job_runs SET finished_at = now(), outcome = $2, counts = $3, error = $4 WHERE id = $1`,
    [id, run.outcome, JSON.stringify(run.counts), run.error ?? null],
  );
}

/** Unix time (seconds) of each job's last successful run, from every process that ran it. */
export async function lastJobSuccesses(db: Queryable): Promise<{ job: string; at: number }[]> {
  const { rows } = await db.query<{ job: string; at: number }>(
    `SELECT job, extract(epoch FROM max(finished_at))::float8 AS at FROM job_runs WHERE outcome = 'success' GROUP BY job`,
  );
  return rows;
}
