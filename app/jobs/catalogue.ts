import { aggregatorJob } from './aggregator.js';
import { creditsJob } from './credits.js';
import { finalizerJob } from './finalizer.js';
import type { JobDefinition } from './job.js';

/** Every periodic job, by the name used in `job <name>` and in the chart's CronJobs. */
export const jobCatalogue: JobDefinition[] = [finalizerJob, aggregatorJob, creditsJob];

export function findJob(name: string): JobDefinition | undefined {
  return jobCatalogue.find((j) => j.name === name);
}
