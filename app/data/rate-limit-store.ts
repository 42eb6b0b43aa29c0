import type { IncrementResponse, Options, Store } from 'express-rate-limit';
import type { RedisHandle } from './redis.js';

/**
 * The same fixed window as rate-limit-redis (so replicas of the previous release, which count
 * one INCR per hit under the same keys, share these counts during a rolling update): the first
 * hit of a window sets its expiry, every hit adds to one integer.
 */
const SYNC_SCRIPT = `
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return { total, ttl }`;

interface Entry {
  /** The window's total in Valkey at the last sync (every hit synced so far, from every replica). */
  shared: number;
  /** Hits counted here this window; each hit's number is its place in that count. */
  counted: number;
  /** Hits sent to Valkey (or being sent), and hits whose sync has answered. */
  sentThrough: number;
  syncedThrough: number;
  /** Decrements not yet sent (skipped successful requests). */
  credit: number;
  resetAt: number;
  /** When a sync last failed: hits are then judged locally until the next timer flush. */
  failedAt: number;
  inFlight: Promise<Batch | undefined> | undefined;
}

/** Hits `first`..`last` of one replica, added in Valkey with `total` as the result. */
type Batch = { first: number; last: number; total: number };

export interface SyncOptions {
  /** Hits a replica may admit on a key before it adds them in Valkey: a share of the limit. */
  batchShare: number;
  /** How often every key's pending hits are added in Valkey, whatever their number. */
  flushMs: number;
  /** Keys remembered per limit class; past it, idle keys are forgotten first. */
  maxKeys: number;
}

/**
 * A rate-limit store shared by every replica through Valkey, without a Valkey round trip per hit.
 *
 * Each replica counts hits in process and adds them to the key's counter in Valkey in batches
 * (one INCRBY script per key): before the first hit of a window it admits on a key, whenever
 * `batch` hits are waiting (the hit that fills the batch waits for the sync), and every
 * `flushMs` for whatever is waiting. Between syncs it judges a hit by the total it last read from
 * Valkey plus its own unsent hits, so a replica can admit at most `batch` hits on a stale view:
 * **across R replicas a key admits at most `limit + R × batch` hits per window**, where `batch` is
 * `batchShare` of the limit, rounded down. A limit under 2 / batchShare (200 at the default 1 %)
 * has a batch below 2: every hit then syncs first, and the limit is exact, as with one INCR per
 * hit. While Valkey is unset or unreachable the replica counts on its own (degraded: each
 * replica then allows the full limit) and adds what it counted once Valkey answers again.
 */
export class SyncedRateLimitStore implements Store {
  readonly localKeys = false;
  readonly prefix: string;
  private windowMs = 60_000;
  private batch = 1;
  private readonly entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: RedisHandle,
    prefix: string,
    private readonly opts: SyncOptions,
  ) {
    this.prefix = prefix;
  }

  init(options: Options): void {
    this.windowMs = options.windowMs;
    const limit = typeof options.limit === 'number' ? options.limit : 1;
    this.batch = Math.max(1, Math.floor(limit * this.opts.batchShare));
    this.timer = setInterval(() => void this.flush(), this.opts.flushMs);
    this.timer.unref();
  }

  /** The batch size this store admits on a stale view (1: every hit is synced first). */
  get batchSize(): number {
    return this.batch;
  }

  async increment(key: string): Promise<IncrementResponse> {
    const e = this.entry(key);
    const hit = ++e.counted;
    // Wait for Valkey on the window's first hit and whenever `batch` hits are unsynced, unless a
    // sync just failed (the hit is then judged locally until the timer retries). A hit whose own
    // sync answered gets its exact place in the shared count, as one INCR per hit would.
    if (e.syncedThrough === 0 || e.counted - e.syncedThrough >= this.batch) {
      while (this.canSync(e) && e.syncedThrough < hit) {
        const batch = await this.sync(key, e);
        if (batch && hit >= batch.first && hit <= batch.last)
          return { totalHits: batch.total - (batch.last - hit), resetTime: new Date(e.resetAt) };
      }
    }
    return {
      totalHits: e.shared + (e.counted - e.syncedThrough) + e.credit,
      resetTime: new Date(e.resetAt),
    };
  }

  /**
   * Counts a hit without waiting, when `increment` would not wait either and the hit stays within
   * `limit`: the key's window has synced once, its batch has room and no sync just failed. Returns
   * the hit's total and the window's end, or undefined with nothing counted (then `increment`
   * decides, as for any hit). The hot read path (http/hot-reads.ts) admits most hits this way.
   */
  admitLocally(key: string, limit: number): { totalHits: number; resetAt: number } | undefined {
    const e = this.entries.get(key);
    if (!e || e.resetAt <= Date.now() || e.syncedThrough === 0 || e.failedAt !== 0) return undefined;
    if (e.counted + 1 - e.syncedThrough >= this.batch) return undefined;
    const totalHits = e.shared + (e.counted + 1 - e.syncedThrough) + e.credit;
    if (totalHits > limit) return undefined;
    e.counted += 1;
    return { totalHits, resetAt: e.resetAt };
  }

  decrement(key: string): void {
    const e = this.entries.get(key);
    if (e) e.credit -= 1;
  }

  async resetKey(key: string): Promise<void> {
    this.entries.delete(key);
    const client = this.redis.client;
    if (client && this.redis.ready) await client.del(`${this.prefix}${key}`).catch(() => undefined);
  }

  shutdown(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Adds every key's waiting hits in Valkey and forgets ended windows (the timer's work). */
  async flush(): Promise<void> {
    const now = Date.now();
    const work: Promise<unknown>[] = [];
    for (const [key, e] of this.entries) {
      if (e.resetAt <= now) this.entries.delete(key);
      else if ((e.counted > e.sentThrough || e.credit !== 0) && this.redis.ready) {
        e.failedAt = 0;
        work.push(this.sync(key, e));
      }
    }
    await Promise.all(work);
  }

  private entry(key: string): Entry {
    const now = Date.now();
    let e = this.entries.get(key);
    if (!e || e.resetAt <= now) {
      if (e) this.entries.delete(key);
      else if (this.entries.size >= this.opts.maxKeys) this.evict();
      e = {
        shared: 0,
        counted: 0,
        sentThrough: 0,
        syncedThrough: 0,
        credit: 0,
        resetAt: now + this.windowMs,
        failedAt: 0,
        inFlight: undefined,
      };
      this.entries.set(key, e);
    }
    return e;
  }

  /** Forgets the oldest keys with nothing waiting (a flood of one-off keys cannot grow the map). */
  private evict(): void {
    let drop = Math.max(1, Math.floor(this.opts.maxKeys / 10));
    for (const [key, e] of this.entries) {
      if (drop === 0) break;
      if (e.counted === e.syncedThrough && e.credit === 0 && !e.inFlight) {
        this.entries.delete(key);
        drop -= 1;
      }
    }
  }

  private canSync(e: Entry): boolean {
    return this.redis.ready && Date.now() - e.failedAt >= this.opts.flushMs;
  }

  /** One INCRBY of the waiting hits; concurrent callers share the sync in flight. */
  private sync(key: string, e: Entry): Promise<Batch | undefined> {
    e.inFlight ??= (async () => {
      const first = e.sentThrough + 1;
      const last = e.counted;
      const credit = e.credit;
      e.sentThrough = last;
      e.credit = 0;
      try {
        const [total, ttl] = (await this.redis.client!.eval(SYNC_SCRIPT, {
          keys: [`${this.prefix}${key}`],
          arguments: [String(last - first + 1 + credit), String(this.windowMs)],
        })) as [number, number];
        e.shared = Number(total);
        e.syncedThrough = last;
        e.resetAt = Date.now() + Number(ttl);
        return { first, last, total: Number(total) };
      } catch {
        e.sentThrough = first - 1; // sent again at the next sync
        e.credit += credit;
        e.failedAt = Date.now();
        return undefined;
      } finally {
        e.inFlight = undefined;
      }
    })();
    return e.inFlight;
  }
}
