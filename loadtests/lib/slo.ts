/**
 * The SLO file (loadtests/slo.json) is the one source for these thresholds and for the chart's
 * alert thresholds (infra/slo.ts derives those).
 */
export type Slo = {
  availability: { errorRate: number };
  latency: { p95Ms: number; p99Ms: number };
  load: { targetRate: number; duration: string; preAllocatedVUs: number; maxVUs: number };
  finalizer: { pendingReceiptsMax: number };
};

export const slo: Slo = JSON.parse(open('../slo.json'));

/** k6 thresholds for the SLO; abortOnFail on errors so a broken target ends the run early. */
export function sloThresholds(): Record<
  string,
  { threshold: string; abortOnFail?: boolean; delayAbortEval?: string }[]
> {
  return {
    http_req_failed: [
      { threshold: `rate<${slo.availability.errorRate}`, abortOnFail: true, delayAbortEval: '10s' },
    ],
    http_req_duration: [
      { threshold: `p(95)<${slo.latency.p95Ms}` },
      { threshold: `p(99)<${slo.latency.p99Ms}` },
    ],
    checks: [{ threshold: `rate>${1 - slo.availability.errorRate}` }],
  };
}
