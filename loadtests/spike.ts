/**
 * Spike: five times the target for 20 s, then back. Errors are held to the SLO; the latency
 * report shows the recovery.
 *
 *   k6 run -e TARGET=http://127.0.0.1:3000 -e ADMIN_TOKEN=... loadtests/spike.ts
 */
import { spikeScenario, TARGET_RATE } from './lib/profiles.ts';
import { sloThresholds } from './lib/slo.ts';
import { summaryOutputs, TREND_STATS, type Summary } from './lib/summary.ts';
import { trafficIteration, trafficSetup, trafficTeardown, type TrafficData } from './lib/traffic.ts';

export const options = {
  scenarios: { spike: spikeScenario() },
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
  return summaryOutputs('spike', data);
}
