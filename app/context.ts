import path from 'node:path';
import type { Logger } from 'pino';
import type { Env } from './config/env.js';
import { settingsFrom, type Settings } from './config/settings.js';
import { createPool, type Db } from './data/db.js';
import { LocalCache } from './data/local-cache.js';
import { NatsHandle } from './data/nats.js';
import { ReadCache } from './data/read-cache.js';
import { RedisHandle } from './data/redis.js';
import { loadMigrations, type Migration } from './migrate/runner.js';
import { createMetrics, type Metrics } from './metrics.js';

/** Everything a use-case may need, built once per process and passed down explicitly. */
export interface AppContext {
  env: Env;
  /** The rules' knobs from `env`, typed and grouped once (config/settings.ts). */
  settings: Settings;
  logger: Logger;
  db: Db;
  redis: RedisHandle;
  nats: NatsHandle;
  metrics: Metrics;
  cache: ReadCache;
  /** Hot reads in this process, kept fresh by invalidation events (see LocalCache). */
  localCache: LocalCache;
  migrations: Migration[];
  version: string;
  state: { draining: boolean };
}

export async function createContext(env: Env, logger: Logger, version: string): Promise<AppContext> {
  if (!env.DATABASE_URL) throw new Error('DATABASE_URL is required');
  const db = createPool(
    {
      url: env.DATABASE_URL,
      max: env.DB_POOL_MAX,
      idleTimeoutMs: env.DB_POOL_IDLE_TIMEOUT_MS,
      connectionTimeoutMs: env.DB_CONNECTION_TIMEOUT_MS,
      statementTimeoutMs: env.DB_STATEMENT_TIMEOUT_MS,
      prepare: env.DB_PREPARED_STATEMENTS,
    },
    logger,
  );
  const redis = new RedisHandle(env.REDIS_URL, logger);
  const nats = new NatsHandle(env.NATS_URL, logger);
  if (!env.REDIS_URL) logger.warn('REDIS_URL is not set: in-memory rate limits and cache (degraded)');
  if (!env.NATS_URL) logger.warn('NATS_URL is not set: in-process event delivery (degraded)');
  await Promise.all([redis.connect(), nats.connect()]);
  const migrations = await loadMigrations(path.resolve(env.MIGRATIONS_DIR));
  const metrics = createMetrics(db);
  return {
    env,
    settings: settingsFrom(env),
    logger,
    db,
    redis,
    nats,
    metrics,
    cache: new ReadCache(redis, env.CACHE_TTL_SECONDS, metrics.cacheRequests),
    localCache: new LocalCache(
      { ttlMs: env.LOCAL_CACHE_TTL_MS, maxEntries: env.LOCAL_CACHE_MAX_ENTRIES },
      metrics.cacheRequests,
    ),
    migrations,
    version,
    state: { draining: false },
  };
}

export async function closeContext(ctx: AppContext): Promise<void> {
  await Promise.allSettled([ctx.redis.close(), ctx.nats.close()]);
  await ctx.db.end().catch((err: Error) => ctx.logger.warn({ err: err.message }, 'pool close'));
}
