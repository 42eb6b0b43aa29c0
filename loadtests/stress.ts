/**
 * Stress: up to three times the target rate. Only errors are held to the SLO (latency is
 * expected to degrade past the target): the report shows where it gives.
 *
 *   k6 run -e TARGET=http://127.0.0.1:3000 -e ADMIN_TOKEN=... loadtests/stress.ts
 */
import { stressScenario, TARGET_RATE } from './lib/profiles.ts';
import { sloThresholds } from './lib/slo.ts';
import { summaryOutputs, TREND_STATS, type Summary } from './lib/summary.ts';
import { trafficIteration, trafficSetup, trafficTeardown, type TrafficData } from './lib/traffic.ts';

export const options = {
  scenarios: { stress: stressScenario() },
  thresholds: { http_req_failed: sloThresholds().http_req_failed },
  summaryTrendStats: TREND_STATS,
  setupTimeout: '60s',
};

export async function setup(): Promise<TrafficData> {
  return trafficSetup(TARGET_RATE);
}

export default function (data: TrafficData) {
  trafficIteration(data);
}

export function teardown(data: TrafficData) {
  trafficTeardown(data);
}

export function handleSummary(data: Summary) {
  return summaryOutputs('stress', data);
}
