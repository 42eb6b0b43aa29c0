import type { Counter } from 'prom-client';

export interface LocalCacheOptions {
  /** Longest a value is kept, invalidation or not (a backstop, not the mechanism). */
  ttlMs: number;
  maxEntries: number;
}

type Entry = { value: unknown; expires: number };
type Load = { promise: Promise<unknown>; stale: boolean };

/**
 * Hot reads kept in this process: an agent's record (`agent:<id>`) and a DID's seven-dimension
 * reputation (`rep:<did>`). A read answered here costs no database round trip.
 *
 * Freshness comes from invalidation, not from the TTL: every change to a cached value writes a
 * `cache.invalidate` event in its own transaction (database triggers, migration 0008), and every
 * broker process receives it through the event relay and drops the keys it names. A value is
 * never served after its invalidation event has arrived here: a load that was running when the
 * event arrived answers its own callers but is not kept. Between the commit and the event's
 * arrival (the relay's latency, milliseconds), another replica may still answer the old value.
 * The writing process also drops its own keys as soon as its transaction commits.
 *
 * The cache answers only while the relay reports its feed live (`setLive`): subscribed on NATS, or
 * the only process when NATS is not configured. A NATS disconnect or reconnect turns it off and
 * drops everything, since events may be missed meanwhile; the TTL bounds what a missed event could
 * leave behind in any case.
 */
export class LocalCache {
  private readonly entries = new Map<string, Entry>();
  private readonly loading = new Map<string, Load>();
  /** Whether invalidation events are known to arrive; until then every read goes to the database. */
  private live = false;

  constructor(
    private readonly opts: LocalCacheOptions,
    private readonly requests?: Counter<'kind' | 'result'>,
  ) {}

  async get<T>(kind: string, id: string, load: () => Promise<T>): Promise<T> {
    if (!this.live || this.opts.ttlMs <= 0) return load();
    const key = `${kind}:${id}`;
    const hit = this.entries.get(key);
    if (hit && hit.expires > Date.now()) {
      this.requests?.inc({ kind, result: 'local_hit' });
      return hit.value as T;
    }
    // One load per key at a time: a burst of reads of a cold key costs one query.
    const running = this.loading.get(key);
    if (running) return running.promise as Promise<T>;
    this.requests?.inc({ kind, result: 'local_miss' });
    const current: Load = { promise: load(), stale: false };
    this.loading.set(key, current);
    try {
      const value = await current.promise;
      if (!current.stale) this.store(key, value);
      return value as T;
    } finally {
      if (this.loading.get(key) === current) this.loading.delete(key);
    }
  }

  /**
   * The value cached for `kind:id` when this process may answer from it (feed live, not expired),
   * else undefined; nothing is loaded or counted (the caller counts a hit it serves: `hit`).
   */
  peek(kind: string, id: string): unknown {
    if (!this.live || this.opts.ttlMs <= 0) return undefined;
    const entry = this.entries.get(`${kind}:${id}`);
    return entry && entry.expires > Date.now() ? entry.value : undefined;
  }

  /** Counts a read answered from a value `peek` returned. */
  hit(kind: string): void {
    this.requests?.inc({ kind, result: 'local_hit' });
  }

  /** Drops these keys, and keeps any load of them already running from being stored. */
  invalidate(keys: Iterable<string>): void {
    for (const key of keys) {
      this.entries.delete(key);
      const running = this.loading.get(key);
      if (running) {
        running.stale = true;
        this.loading.delete(key);
      }
    }
  }

  /**
   * Set by the event relay: true while it receives every invalidation event (subscribed on NATS,
   * or the only process when there is no NATS). Any change drops everything cached.
   */
  setLive(live: boolean): void {
    if (live === this.live) return;
    this.clear();
    this.live = live;
  }

  /** Drops everything (the invalidation feed may have missed events). */
  clear(): void {
    this.entries.clear();
    for (const running of this.loading.values()) running.stale = true;
    this.loading.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  private store(key: string, value: unknown): void {
    // Oldest first: Map keeps insertion order, and a refreshed key is re-inserted at the end.
    this.entries.delete(key);
    if (this.entries.size >= this.opts.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { value: deepFreeze(value), expires: Date.now() + this.opts.ttlMs });
  }
}

/**
 * A cached value is shared by every request that reads it: frozen, so no handler can change it
 * for the others (and the HTTP layer may serialize it once: see define-route.ts).
 */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * What a `cache.invalidate` event drops (see migration 0008): its keys, or everything (`all`, for
 * a statement that changed more rows than an event should list); undefined for other events.
 */
export function invalidation(e: {
  type: string;
  payload: Record<string, unknown>;
}): { all: true } | { keys: string[] } | undefined {
  if (e.type !== 'cache.invalidate') return undefined;
  if (e.payload.all === true) return { all: true };
  const keys = Array.isArray(e.payload.keys) ? e.payload.keys : [];
  return { keys: keys.filter((k): k is string => typeof k === 'string') };
}
