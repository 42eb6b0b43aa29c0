/**
 * Hourly credit distribution, integer arithmetic end to end: each eligible agent gets
 * floor(pool · weight / Σweight); what the floors leave is carried to the next window, so
 * payouts + carried = pool exactly. Weights are usefulness scores in parts per million.
 */
export interface RewardShare {
  did: string;
  amount: bigint;
}

export const SCORE_SCALE = 1_000_000;

export function scoreWeight(score: number): bigint {
  return BigInt(Math.round(score * SCORE_SCALE));
}

export function distributeRewards(
  pool: bigint,
  weights: { did: string; weight: bigint }[],
): { shares: RewardShare[]; carried: bigint } {
  const total = weights.reduce((s, w) => s + w.weight, 0n);
  if (pool <= 0n || total === 0n) return { shares: [], carried: pool > 0n ? pool : 0n };
  const shares = weights
    .map((w) => ({ did: w.did, amount: (pool * w.weight) / total }))
    .filter((s) => s.amount > 0n);
  const paid = shares.reduce((s, x) => s + x.amount, 0n);
  return { shares, carried: pool - paid };
}
