import type { Counter } from 'prom-client';
import type { RedisHandle } from './redis.js';

/**
 * Read-through cache for per-agent reads (reputation, stats) in Valkey, invalidated by writes.
 *
 * Values are keyed by a per-agent version that every write increments. A reader that loaded
 * old data just before a write stores it under the old version, which nobody reads again, so a
 * read after a write never sees a stale value (a plain delete-on-write has that race).
 * Without REDIS_URL the same scheme runs in process memory (single-process local stack); with
 * Valkey configured but down, reads bypass the cache and invalidations are retried when it returns.
 */
export class ReadCache {
  private readonly memory = new Map<string, { value: string; expires: number }>();
  private readonly pending = new Set<string>();

  constructor(
    private readonly redis: RedisHandle,
    private readonly ttlSeconds: number,
    private readonly requests: Counter<'kind' | 'result'>,
  ) {}

  async get<T>(kind: string, id: string, load: () => Promise<T>): Promise<T> {
    const client = this.redis.client;
    if (!client) return this.getInMemory(kind, id, load);
    if (!this.redis.ready || !(await this.flushPending())) {
      this.requests.inc({ kind, result: 'bypass' });
      return load();
    }
    try {
      const version = (await client.get(`cache:v:${id}`)) ?? '0';
      const key = `cache:${kind}:${id}:${version}`;
      const hit = await client.get(key);
      if (hit !== null) {
        this.requests.inc({ kind, result: 'hit' });
        return JSON.parse(hit) as T;
      }
      this.requests.inc({ kind, result: 'miss' });
      const value = await load();
      await client.set(key, JSON.stringify(value), { EX: this.ttlSeconds }).catch(() => undefined);
      return value;
    } catch {
      this.requests.inc({ kind, result: 'bypass' });
      return load();
    }
  }

  /** Call after the write committed. */
  async invalidate(id: string): Promise<void> {
    const client = this.redis.client;
    if (!client) {
      this.memory.set(`v:${id}`, {
        value: String(Number(this.memory.get(`v:${id}`)?.value ?? 0) + 1),
        expires: Infinity,
      });
      return;
    }
    try {
      await client.incr(`cache:v:${id}`);
    } catch {
      this.pending.add(id);
    }
  }

  /** Applies invalidations that failed while Valkey was down; false while some still fail. */
  private async flushPending(): Promise<boolean> {
    for (const id of this.pending) {
      try {
        await this.redis.client!.incr(`cache:v:${id}`);
        this.pending.delete(id);
      } catch {
        return false;
      }
    }
    return true;
  }

  private async getInMemory<T>(kind: string, id: string, load: () => Promise<T>): Promise<T> {
    const version = this.memory.get(`v:${id}`)?.value ?? '0';
    const key = `${kind}:${id}:${version}`;
    const hit = this.memory.get(key);
    if (hit && hit.expires > Date.now()) {
      this.requests.inc({ kind, result: 'hit' });
      return JSON.parse(hit.value) as T;
    }
    this.requests.inc({ kind, result: 'miss' });
    const value = await load();
    if (this.memory.size > 10_000) this.memory.clear();
    this.memory.set(key, { value: JSON.stringify(value), expires: Date.now() + this.ttlSeconds * 1000 });
    return value;
  }
}
