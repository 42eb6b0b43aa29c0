/**
 * Soak: the target rate for SOAK_DURATION (default 30m); every SLO threshold applies, so
 * slow leaks and drift fail it.
 *
 *   k6 run -e TARGET=http://127.0.0.1:3000 -e ADMIN_TOKEN=... loadtests/soak.ts
 */
import { soakScenario, TARGET_RATE } from './lib/profiles.ts';
import { sloThresholds } from './lib/slo.ts';
import { summaryOutputs, TREND_STATS, type Summary } from './lib/summary.ts';
import { trafficIteration, trafficSetup, trafficTeardown, type TrafficData } from './lib/traffic.ts';

export const options = {
  scenarios: { soak: soakScenario() },
  thresholds: sloThresholds(),
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
  return summaryOutputs('soak', data);
}
