import { createHash } from 'node:crypto';

/**
 * Committee selection: weighted sampling without replacement (Efraimidis–Spirakis). Each
 * candidate draws u = H(seed, did) in (0,1) and gets the key ln(u) / weight; the m largest keys
 * win. It depends only on the seed and each candidate's own weight, so anyone with the seed and
 * the weights (stored on the receipt for the members) can recompute the choice.
 */
export interface Candidate {
  did: string;
  /** Trust score in parts per million (an integer, so every recomputation agrees bit for bit). */
  weight: number;
  /** The owner address of the agent: one seat per owner, so one key cannot fill a committee. */
  owner?: string;
}

export const WEIGHT_SCALE = 1_000_000;

export function weightFromTrust(trust: number): number {
  // A floor keeps a zero-trust agent selectable (and the logarithm finite).
  return Math.max(1, Math.round(trust * WEIGHT_SCALE));
}

function uniform(seed: string, did: string): number {
  const h = createHash('sha256').update(seed).update('\n').update(did).digest();
  // 52 random bits, shifted off zero: u in (0, 1).
  const hi = h.readUInt32BE(0) >>> 12; // 20 bits
  const lo = h.readUInt32BE(4); // 32 bits
  return (hi * 2 ** 32 + lo + 0.5) / 2 ** 52;
}

/**
 * The m candidates with the largest keys, at most one per owner address (an owner's candidate with
 * the largest key takes its seat), so the choice stays recomputable from the seed, the weights and
 * the owners.
 */
export function selectCommittee(candidates: Candidate[], m: number, seed: string): Candidate[] {
  const seated = new Set<string>();
  const chosen: Candidate[] = [];
  const ranked = candidates
    .map((c) => ({ c, key: Math.log(uniform(seed, c.did)) / c.weight }))
    .sort((a, b) => b.key - a.key || (a.c.did < b.c.did ? -1 : 1));
  for (const { c } of ranked) {
    if (chosen.length >= m) break;
    if (c.owner !== undefined && seated.has(c.owner)) continue;
    if (c.owner !== undefined) seated.add(c.owner);
    chosen.push(c);
  }
  return chosen;
}

/** k shrinks to the committee that exists; with no committee the client's ACCEPTED alone decides. */
export function effectiveQuorum(k: number, committeeSize: number): number {
  return Math.min(k, committeeSize);
}
