import type { AppContext } from '../context.js';
import { finishJobRun, startJobRun } from '../data/job-run-repository.js';
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
  const id = await startJobRun(ctx.db, job.name);
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
  await finishJobRun(ctx.db, id, result);
  const { metrics } = ctx;
  metrics.jobRuns.inc({ job_name: job.name, outcome: result.outcome });
  metrics.jobDuration.set({ job_name: job.name }, result.durationMs / 1000);
  ctx.logger.info({ job: job.name, ...result }, 'job run');
  return result;
}
