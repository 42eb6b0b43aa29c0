import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

/** API keys: `ainp_` + 32 random bytes; only the SHA-256 and a display prefix are stored. */
export function generateApiKey(): { key: string; prefix: string; hash: string } {
  const key = `ainp_${randomBytes(32).toString('base64url')}`;
  return { key, prefix: key.slice(0, 12), hash: hashApiKey(key) };
}

/**
 * One-shot hashes (crypto.hash): a Hash object per call had been 9 % of the broker's CPU on the
 * hot reads, which hash the presented key to find it in the cache (bench:profile --op read).
 */
export function hashApiKey(key: string): string {
  return hash('sha256', key, 'hex');
}

/** Constant-time comparison of two secrets of any length. */
export function secretsEqual(a: string, b: string): boolean {
  const ha = hash('sha256', a, 'buffer');
  const hb = hash('sha256', b, 'buffer');
  return timingSafeEqual(ha, hb);
}
