/** Usefulness of one proof: min(100, compute_ms/100 + memory_mb + hops·10 + checks·5 + samples/10). */
export interface ProofMetrics {
  compute_ms: number;
  memory_mb: number;
  hops: number;
  checks: number;
  samples: number;
}

export function proofScore(m: ProofMetrics): number {
  return Math.min(100, m.compute_ms / 100 + m.memory_mb + m.hops * 10 + m.checks * 5 + m.samples / 10);
}

/**
 * A near-perfect proof is flagged (kept, but left out of the average) when the agent already sent
 * `burstMax` near-perfect proofs within the burst window: a burst of perfect scores is more likely
 * gaming than work.
 */
export function isSuspiciousBurst(
  score: number,
  recentNearPerfect: number,
  nearPerfect: number,
  burstMax: number,
): boolean {
  return score >= nearPerfect && recentNearPerfect >= burstMax;
}
