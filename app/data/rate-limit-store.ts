import { MemoryStore, type IncrementResponse, type Options, type Store } from 'express-rate-limit';
import { RedisStore } from 'rate-limit-redis';
import type { RedisHandle } from './redis.js';

/**
 * A rate-limit store shared by every replica through Valkey (rate-limit-redis), that falls back
 * to a per-process memory store while Valkey is unreachable and goes back to the shared one as
 * soon as it answers again, without a restart.
 */
export class FallbackRateLimitStore implements Store {
  private options!: Options;
  private shared: RedisStore | undefined;
  private readonly local = new MemoryStore();
  readonly prefix: string;

  constructor(
    private readonly redis: RedisHandle,
    prefix: string,
  ) {
    this.prefix = prefix;
  }

  init(options: Options): void {
    this.options = options;
    this.local.init(options);
  }

  /** A RedisStore is (re)built once Valkey is ready: it loads its Lua scripts in init(). */
  private sharedStore(): RedisStore | undefined {
    const client = this.redis.client;
    if (!client || !this.redis.ready) return undefined;
    if (!this.shared) {
      const store = new RedisStore({
        prefix: this.prefix,
        sendCommand: (...args: string[]) => client.sendCommand(args),
      });
      store.init(this.options).catch(() => {
        if (this.shared === store) this.shared = undefined;
      });
      this.shared = store;
    }
    return this.shared;
  }

  async increment(key: string): Promise<IncrementResponse> {
    const shared = this.sharedStore();
    if (shared) {
      try {
        return await shared.increment(key);
      } catch {
        this.shared = undefined;
      }
    }
    return this.local.increment(key);
  }

  async decrement(key: string): Promise<void> {
    await (this.sharedStore()?.decrement(key) ?? this.local.decrement(key)).catch(() => undefined);
  }

  async resetKey(key: string): Promise<void> {
    await Promise.allSettled([this.sharedStore()?.resetKey(key), this.local.resetKey(key)]);
  }

  shutdown(): void {
    this.local.shutdown();
  }
}
