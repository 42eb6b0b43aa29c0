import { slo } from './slo.ts';

/**
 * The arrival-rate profiles, all derived from the SLO's target rate. Each is bounded in time and
 * in VUs, and stops by itself.
 */
const rate = Number(__ENV.RATE || slo.load.targetRate);
const vus = { preAllocatedVUs: slo.load.preAllocatedVUs, maxVUs: slo.load.maxVUs };

export const TARGET_RATE = rate;
/** The highest rates stress and spike reach: setup makes enough API keys for them. */
export const STRESS_PEAK = rate * 3;
export const SPIKE_PEAK = rate * 5;

/** Load: the target rate, held (DURATION overrides the SLO file's duration, e.g. 20s in a test). */
export function loadScenario() {
  return {
    executor: 'constant-arrival-rate',
    rate,
    timeUnit: '1s',
    duration: __ENV.DURATION || slo.load.duration,
    ...vus,
  };
}

/** Stress: climbs to three times the target in steps, to see where latency and errors give. */
export function stressScenario() {
  return {
    executor: 'ramping-arrival-rate',
    startRate: Math.ceil(rate / 2),
    timeUnit: '1s',
    stages: [
      { target: rate, duration: '30s' },
      { target: rate * 2, duration: '30s' },
      { target: STRESS_PEAK, duration: '30s' },
      { target: STRESS_PEAK, duration: '30s' },
      { target: 0, duration: '10s' },
    ],
    preAllocatedVUs: vus.preAllocatedVUs * 2,
    maxVUs: vus.maxVUs * 3,
  };
}

/** Spike: the target, then five times it for 20 s, then back, to see the recovery. */
export function spikeScenario() {
  return {
    executor: 'ramping-arrival-rate',
    startRate: rate,
    timeUnit: '1s',
    stages: [
      { target: rate, duration: '20s' },
      { target: SPIKE_PEAK, duration: '5s' },
      { target: SPIKE_PEAK, duration: '20s' },
      { target: rate, duration: '5s' },
      { target: rate, duration: '30s' },
    ],
    preAllocatedVUs: vus.preAllocatedVUs * 2,
    maxVUs: vus.maxVUs * 5,
  };
}

/** Soak: the target rate for a long time (SOAK_DURATION, default 30m), for leaks and drift. */
export function soakScenario() {
  return {
    executor: 'constant-arrival-rate',
    rate,
    timeUnit: '1s',
    duration: __ENV.SOAK_DURATION || '30m',
    ...vus,
  };
}
