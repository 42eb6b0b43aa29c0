import { Cron } from 'croner';
import type { AppContext } from '../context.js';
import type { JobDefinition } from './job.js';
import { runJob } from './run-job.js';

export interface Scheduler {
  names: string[];
  stop(): Promise<void>;
}

/**
 * The local stand-in for the chart's CronJobs: the same job functions on the same cron expressions.
 * `protect` skips a tick while the previous run of that job is still going (like
 * `concurrencyPolicy: Forbid`); stop() waits for runs in progress.
 */
export function startScheduler(ctx: AppContext, jobs: JobDefinition[]): Scheduler {
  const abort = new AbortController();
  const running = new Set<Promise<unknown>>();
  const crons: Cron[] = [];
  for (const job of jobs) {
    const { cron, enabled } = job.schedule(ctx.env);
    if (!enabled) continue;
    crons.push(
      new Cron(cron, { protect: true, name: job.name }, async () => {
        const run = runJob(ctx, job, abort.signal).catch((err: Error) =>
          ctx.logger.error({ err: err.message, job: job.name }, 'job run not recorded'),
        );
        running.add(run);
        await run;
        running.delete(run);
      }),
    );
  }
  return {
    names: crons.map((c) => c.name ?? ''),
    async stop() {
      for (const c of crons) c.stop();
      abort.abort();
      await Promise.allSettled([...running]);
    },
  };
}
