import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** API keys: `ainp_` + 32 random bytes; only the SHA-256 and a display prefix are stored. */
export function generateApiKey(): { key: string; prefix: string; hash: string } {
  const key = `ainp_${randomBytes(32).toString('base64url')}`;
  return { key, prefix: key.slice(0, 12), hash: hashApiKey(key) };
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Constant-time comparison of two secrets of any length. */
export function secretsEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}
