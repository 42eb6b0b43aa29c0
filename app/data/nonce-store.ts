import type { RedisHandle } from './redis.js';

/**
 * Remembers request signatures for the skew window so a replay is refused. Shared through Valkey
 * (SET NX EX); while Valkey is unset or down, a process-local map stands in (degraded: a replay
 * sent to another replica during the outage is not seen).
 */
export class NonceStore {
  private readonly local = new Map<string, number>();

  constructor(
    private readonly redis: RedisHandle,
    private readonly ttlSeconds: number,
  ) {}

  /** True when `id` was not seen within the window (and is now remembered). */
  async firstSeen(id: string): Promise<boolean> {
    const client = this.redis.client;
    if (client && this.redis.ready) {
      try {
        return (await client.set(`nonce:${id}`, '1', { NX: true, EX: this.ttlSeconds })) === 'OK';
      } catch {
        // fall through to the local map
      }
    }
    const now = Date.now();
    if (this.local.size > 100_000) for (const [k, exp] of this.local) if (exp < now) this.local.delete(k);
    const seen = this.local.get(id);
    if (seen !== undefined && seen > now) return false;
    this.local.set(id, now + this.ttlSeconds * 1000);
    return true;
  }
}
