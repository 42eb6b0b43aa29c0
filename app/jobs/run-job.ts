import type { AppContext } from '../context.js';
import type { JobCounts, JobDefinition } from './job.js';

export interface JobRunResult {
  id: string;
  outcome: 'success' | 'failure';
  counts: JobCounts;
  durationMs: number;
  error?: string;
}

/**
 * Runs a job once and records the run (start, end, outcome, counts) in `job_runs`, the same way for
 * a Kubernetes CronJob (`node dist/app/main.js job <name>`) and for the local in-process schedule.
 */
export async function runJob(ctx: AppContext, job: JobDefinition, signal = new AbortController().signal) {
  const started = Date.now();
  const { rows } = await ctx.db.query<{ id: string }>(`INSERT INTO job_runs (job) VALUES ($1) RETURNING id`, [
    job.name,
  ]);
  const id = rows[0]!.id;
  let result: JobRunResult;
  try {
    const counts = await job.run(ctx, signal);
    result = { id, outcome: 'success', counts, durationMs: Date.now() - started };
  } catch (err) {
    ctx.logger.error({ err, job: job.name }, 'job failed');
    result = {
      id,
      outcome: 'failure',
      counts: {},
      durationMs: Date.now() - started,
      error: (err as Error).message,
    };
  }
  await ctx.db.query(
    `UPDATE job_runs SET finished_at = now(), outcome = $2, counts = $3, error = $4 WHERE id = $1`,
    [id, result.outcome, JSON.stringify(result.counts), result.error ?? null],
  );
  const { metrics } = ctx;
  metrics.jobRuns.inc({ job_name: job.name, outcome: result.outcome });
  metrics.jobDuration.set({ job_name: job.name }, result.durationMs / 1000);
  ctx.logger.info({ job: job.name, ...result }, 'job run');
  return result;
}
