import { beforeAll, describe, expect, it } from 'vitest';
import type { JobDefinition } from '../app/jobs/job.js';
import { runJob } from '../app/jobs/run-job.js';
import type { RunningBroker } from '../app/server.js';
import { createTestStack, type TestStack } from './helpers/stack.js';
import { runMain } from './helpers/process.js';

let stack: TestStack;
let broker: RunningBroker;
beforeAll(async () => {
  stack = await createTestStack();
  broker = await stack.broker();
});

const counting = (name: string, counts: Record<string, number>): JobDefinition => ({
  name,
  schedule: () => ({ cron: '* * * * * *', enabled: true }),
  run: async () => counts,
});

describe('runJob', () => {
  it('records a successful run with its counts and exports last success', async () => {
    const result = await runJob(broker.ctx, counting('probe', { claimed: 3, finalized: 2 }));
    expect(result.outcome).toBe('success');
    const { rows } = await stack.db.query(
      'SELECT job, outcome, counts, finished_at FROM job_runs WHERE id = $1',
      [result.id],
    );
    expect(rows[0]).toMatchObject({ job: 'probe', outcome: 'success', counts: { claimed: 3, finalized: 2 } });
    expect(rows[0].finished_at).toBeInstanceOf(Date);
    const metrics = await broker.ctx.metrics.registry.metrics();
    expect(metrics).toMatch(/ainp_job_runs_total\{job_name="probe",outcome="success"\} 1/);
    expect(metrics).toMatch(/ainp_job_last_success_timestamp_seconds\{job_name="probe"\} \d+/);
  });

  it('records a failed run with its error', async () => {
    const failing: JobDefinition = {
      ...counting('broken', {}),
      run: async () => Promise.reject(new Error('boom')),
    };
    const result = await runJob(broker.ctx, failing);
    expect(result).toMatchObject({ outcome: 'failure', error: 'boom' });
    const { rows } = await stack.db.query('SELECT outcome, error FROM job_runs WHERE id = $1', [result.id]);
    expect(rows[0]).toEqual({ outcome: 'failure', error: 'boom' });
  });
});

describe('in-process schedule', () => {
  it('runs enabled jobs on their cron (six fields, seconds first) and skips disabled ones', async () => {
    const scheduled = await stack.broker(
      { SCHEDULER_ENABLED: 'true' },
      {
        jobs: [
          counting('every-second', { ticks: 1 }),
          { ...counting('disabled', {}), schedule: () => ({ cron: '* * * * * *', enabled: false }) },
        ],
      },
    );
    await new Promise((r) => setTimeout(r, 2200));
    await scheduled.stop();
    const { rows } = await stack.db.query(
      `SELECT job, count(*)::int AS n FROM job_runs WHERE job IN ('every-second', 'disabled') GROUP BY job`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].job).toBe('every-second');
    expect(rows[0].n).toBeGreaterThanOrEqual(1);
  });
});

describe('main.ts job (the CronJob entry point)', () => {
  it('exits 2 and lists the jobs for an unknown name', async () => {
    const run = runMain(['job', 'nope'], stack.env());
    expect(await run.exited).toBe(2);
    expect(run.output()).toContain('unknown job nope');
  });
});
