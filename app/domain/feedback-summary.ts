/**
 * The feedback summary of an agent (ERC-8004 reputation feedback, served at
 * GET /api/v1/agents/{id}/reputation; not the seven-dimension vector of domain/reputation.ts): a
 * feedback's value (an integer with `value_decimals`) is read as a
 * score on 0..100 (clamped, so out-of-scale values cannot drag an average out of its range).
 */

export type TrustLevel = 'excellent' | 'good' | 'fair' | 'poor' | 'new';

export interface TrustThresholds {
  /** Below this many live feedbacks an agent is `new`. */
  minFeedback: number;
  excellent: { average: number; successRate: number };
  good: { average: number; successRate: number };
  fair: { average: number; successRate: number };
}

export const POSITIVE_MIN = 80;
export const NEGATIVE_BELOW = 50;

/** value / 10^decimals, clamped to 0..100, computed exactly on integer strings. */
export function feedbackScore(value: string, decimals: number): number {
  const negative = value.startsWith('-');
  if (negative) return 0;
  const digits = value.padStart(decimals + 1, '0');
  const whole = digits.slice(0, digits.length - decimals);
  const fraction = decimals ? digits.slice(-decimals) : '0';
  const score = Number(`${whole}.${fraction}`);
  return Math.min(100, Math.max(0, score));
}

export interface FeedbackAggregate {
  total: number;
  positive: number;
  average: number;
}

/** Success rate = share of live feedback that is positive (score >= 80). */
export function trustLevel(agg: FeedbackAggregate, t: TrustThresholds): TrustLevel {
  if (agg.total < t.minFeedback) return 'new';
  const successRate = agg.total ? agg.positive / agg.total : 0;
  const meets = (band: { average: number; successRate: number }) =>
    agg.average >= band.average && successRate >= band.successRate;
  if (meets(t.excellent)) return 'excellent';
  if (meets(t.good)) return 'good';
  if (meets(t.fair)) return 'fair';
  return 'poor';
}
