import type { ReceiptStatus } from './quorum.js';

/**
 * The seven-dimension reputation, each in [0,1], moved by an EWMA with α once per receipt when it
 * leaves `pending`. A dimension with no observation in a receipt keeps its value.
 *   q quality       acceptance and audit scores (PASS-type scores as given, FAIL-type as 1 − score)
 *   t timeliness    1 − latency / SLA
 *   r reliability   1 when finalized, 0 when failed, expired or disputed
 *   s safety        SAFETY_* scores (PASS as given, FAIL as 1 − score)
 *   v truthfulness  mean audit confidence
 *   i impact        usefulness / 100
 *   e efficiency    1 − price / budget
 */
export const DIMENSIONS = ['q', 't', 'r', 's', 'v', 'i', 'e'] as const;
export type Dimension = (typeof DIMENSIONS)[number];
export type Reputation = Record<Dimension, number>;

export const NEUTRAL: Reputation = { q: 0.5, t: 0.5, r: 0.5, s: 0.5, v: 0.5, i: 0.5, e: 0.5 };

export interface ScoredAttestation {
  type: 'ACCEPTED' | 'REJECTED' | 'AUDIT_PASS' | 'AUDIT_FAIL' | 'SAFETY_PASS' | 'SAFETY_FAIL';
  score: number;
  confidence: number;
}

export interface ReceiptOutcome {
  status: Exclude<ReceiptStatus, 'pending'>;
  attestations: ScoredAttestation[];
  latencyMs: number | null;
  slaMs: number | null;
  price: bigint;
  budget: bigint;
  usefulness: number | null;
}

const clamp = (x: number) => Math.min(1, Math.max(0, x));
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined);
const asQuality = (a: ScoredAttestation) =>
  a.type.endsWith('FAIL') || a.type === 'REJECTED' ? 1 - a.score : a.score;

export function observe(o: ReceiptOutcome): Partial<Reputation> {
  const quality = o.attestations.filter((a) =>
    ['ACCEPTED', 'REJECTED', 'AUDIT_PASS', 'AUDIT_FAIL'].includes(a.type),
  );
  const audits = o.attestations.filter((a) => a.type.startsWith('AUDIT'));
  const safety = o.attestations.filter((a) => a.type.startsWith('SAFETY'));
  const obs: Partial<Reputation> = { r: o.status === 'finalized' ? 1 : 0 };
  const q = mean(quality.map(asQuality));
  if (q !== undefined) obs.q = clamp(q);
  if (o.latencyMs !== null && o.slaMs) obs.t = clamp(1 - o.latencyMs / o.slaMs);
  const s = mean(safety.map(asQuality));
  if (s !== undefined) obs.s = clamp(s);
  const v = mean(audits.map((a) => a.confidence));
  if (v !== undefined) obs.v = clamp(v);
  if (o.usefulness !== null) obs.i = clamp(o.usefulness / 100);
  if (o.budget > 0n) obs.e = clamp(1 - Number((o.price * 1_000_000n) / o.budget) / 1_000_000);
  return obs;
}

export function applyEwma(current: Reputation, obs: Partial<Reputation>, alpha: number): Reputation {
  const next = { ...current };
  for (const d of DIMENSIONS) {
    const x = obs[d];
    if (x !== undefined) next[d] = (1 - alpha) * current[d] + alpha * x;
  }
  return next;
}

export function trustScore(r: Reputation): number {
  return 0.35 * r.r + 0.35 * r.v + 0.2 * r.q + 0.1 * r.t;
}

/** A slash multiplies every dimension by 0.9. */
export function slashReputation(r: Reputation): Reputation {
  const next = { ...r };
  for (const d of DIMENSIONS) next[d] = r[d] * 0.9;
  return next;
}

/**
 * Whether a receipt's outcome may move its provider's reputation and back a usefulness proof
 * (SPEC sections 6 and 10, v3): only work audited by a committee independent of both parties. A
 * receipt with no committee (committee_shortfall: the client's ACCEPTED alone finalized it) or
 * whose client is an agent of the provider's own owner (self_dealt) settles its money and earns
 * nothing beyond its price.
 */
export function earnsReputation(r: { committee_shortfall: boolean; self_dealt: boolean }): boolean {
  return !r.committee_shortfall && !r.self_dealt;
}
