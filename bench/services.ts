import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startNatsServer, startRedisServer } from '../app/local/child-service.js';
import { startEmbeddedPostgres } from '../app/local/embedded-postgres.js';

/** PostgreSQL, Valkey and NATS in a temporary folder for one benchmark run. */
export async function benchServices() {
  const dir = await mkdtemp(path.join(tmpdir(), 'ainp-bench-'));
  await chmod(dir, 0o755); // PostgreSQL runs as its own user when we are root
  const pg = await startEmbeddedPostgres({ dir: path.join(dir, 'pg') });
  const redis = (await startRedisServer(path.join(dir, 'redis')))!;
  const nats = (await startNatsServer(path.join(dir, 'nats')))!;
  return {
    databaseUrl: pg.url,
    redisUrl: redis.url,
    natsUrl: nats.url,
    async stop() {
      await Promise.allSettled([redis.stop(), nats.stop(), pg.stop()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
