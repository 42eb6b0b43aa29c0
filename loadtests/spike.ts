/**
 * Spike: five times the target for 20 s, then back. Errors are held to the SLO; the latency
 * report shows the recovery.
 *
 *   k6 run -e TARGET=http://127.0.0.1:3000 -e ADMIN_TOKEN=... loadtests/spike.ts
 */
import { SPIKE_PEAK, spikeScenario } from './lib/profiles.ts';
import { sloThresholds } from './lib/slo.ts';
import { profileHandlers, profileOptions, trafficIteration } from './lib/traffic.ts';

export const options = profileOptions('spike', spikeScenario(), {
  http_req_failed: sloThresholds().http_req_failed,
});
export const { setup, teardown, handleSummary } = profileHandlers('spike', SPIKE_PEAK);
export default trafficIteration;
