import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** The SLO file (loadtests/slo.json): one source for k6 thresholds and the chart's alert thresholds. */
export const sloSchema = z.object({
  description: z.string(),
  availability: z.object({ errorRate: z.number().positive().max(1) }),
  latency: z.object({ p95Ms: z.number().positive(), p99Ms: z.number().positive() }),
  load: z.object({
    targetRate: z.number().int().positive(),
    duration: z.string().regex(/^[0-9]+[smh]$/),
    preAllocatedVUs: z.number().int().positive(),
    maxVUs: z.number().int().positive(),
  }),
  finalizer: z.object({ pendingReceiptsMax: z.number().int().positive() }),
});
export type Slo = z.infer<typeof sloSchema>;

export const SLO_PATH = new URL('../loadtests/slo.json', import.meta.url);

export function readSlo(path: URL | string = SLO_PATH): Slo {
  return sloSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
}

/** The chart's PrometheusRule thresholds, derived from the SLO. */
export function alertThresholds(slo: Slo) {
  return {
    errorRateThreshold: slo.availability.errorRate,
    p95LatencySeconds: slo.latency.p95Ms / 1000,
    pendingReceiptsMax: slo.finalizer.pendingReceiptsMax,
  };
}
