import type { Env } from '../config/env.js';
import type { AppContext } from '../context.js';

/** Counts a job reports about its run (claimed, finalized, paid, ...); recorded with the run. */
export type JobCounts = Record<string, number>;

export interface JobDefinition {
  name: string;
  /** The schedule for the in-process scheduler (the chart's CronJob gets the same expression). */
  schedule(env: Env): { cron: string; enabled: boolean };
  run(ctx: AppContext, signal: AbortSignal): Promise<JobCounts>;
}
