/**
 * Soak: the target rate for SOAK_DURATION (default 30m); every SLO threshold applies, so
 * slow leaks and drift fail it.
 *
 *   k6 run -e TARGET=http://127.0.0.1:3000 -e ADMIN_TOKEN=... loadtests/soak.ts
 */
import { soakScenario, TARGET_RATE } from './lib/profiles.ts';
import { sloThresholds } from './lib/slo.ts';
import { profileHandlers, profileOptions, trafficIteration } from './lib/traffic.ts';

export const options = profileOptions('soak', soakScenario(), sloThresholds());
export const { setup, teardown, handleSummary } = profileHandlers('soak', TARGET_RATE);
export default trafficIteration;
