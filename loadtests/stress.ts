/**
 * Stress: up to three times the target rate. Only errors are held to the SLO (latency is
 * expected to degrade past the target): the report shows where it gives.
 *
 *   k6 run -e TARGET=http://127.0.0.1:3000 -e ADMIN_TOKEN=... loadtests/stress.ts
 */
import { STRESS_PEAK, stressScenario } from './lib/profiles.ts';
import { sloThresholds } from './lib/slo.ts';
import { profileHandlers, profileOptions, trafficIteration } from './lib/traffic.ts';

export const options = profileOptions('stress', stressScenario(), {
  http_req_failed: sloThresholds().http_req_failed,
});
export const { setup, teardown, handleSummary } = profileHandlers('stress', STRESS_PEAK);
export default trafficIteration;
