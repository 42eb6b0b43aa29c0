import type { Env } from '../config/env.js';
import type { TrustThresholds } from './feedback-summary.js';

export function trustThresholds(env: Env): TrustThresholds {
  return {
    minFeedback: env.TRUST_MIN_FEEDBACK,
    excellent: { average: env.TRUST_EXCELLENT_AVERAGE, successRate: env.TRUST_EXCELLENT_SUCCESS_RATE },
    good: { average: env.TRUST_GOOD_AVERAGE, successRate: env.TRUST_GOOD_SUCCESS_RATE },
    fair: { average: env.TRUST_FAIR_AVERAGE, successRate: env.TRUST_FAIR_SUCCESS_RATE },
  };
}
