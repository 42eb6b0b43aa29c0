/**
 * Load: the SLO's target arrival rate for its duration; every SLO threshold applies and a
 * failed one fails the run (k6 exits 99). This is the gate's second step.
 *
 *   k6 run -e TARGET=http://127.0.0.1:3000 -e ADMIN_TOKEN=... loadtests/load.ts
 */
import { loadScenario, TARGET_RATE } from './lib/profiles.ts';
import { sloThresholds } from './lib/slo.ts';
import { profileHandlers, profileOptions, trafficIteration } from './lib/traffic.ts';

export const options = profileOptions('load', loadScenario(), sloThresholds());
export const { setup, teardown, handleSummary } = profileHandlers('load', TARGET_RATE);
export default trafficIteration;
