import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, inject } from 'vitest';
import { startNatsServer, startRedisServer, type LocalService } from '../../app/local/child-service.js';
import { runEvery, type Step } from '../../app/local/run-every.js';
import { start, type RunningBroker, type StartOptions } from '../../app/server.js';

import { ADMIN_TOKEN } from './admin-token.js';
import { ledgerProblems } from './ledger.js';

export { ADMIN_TOKEN };

export interface TestStack {
  databaseUrl: string;
  redis: LocalService;
  nats: LocalService;
  dir: string;
  /** Environment for a broker on this stack (port 0, migrations on start, quiet logs). */
  env(extra?: Record<string, string | undefined>): Record<string, string | undefined>;
  /** Starts a broker in this process on a free port; stopped after the file. */
  broker(
    extra?: Record<string, string | undefined>,
    options?: Omit<StartOptions, 'env'>,
  ): Promise<RunningBroker>;
  /** A pool on this file's database for assertions. */
  db: pg.Pool;
}

/**
 * The teardowns of the stacks this test file created, run after the file. The hook is registered
 * here, when the file imports this module: vitest silently drops an `afterAll` registered later
 * (inside `beforeAll` or a test, where stacks are created), which is how every stack once leaked
 * its redis-server and nats-server.
 */
const teardowns: Step[] = [];
afterAll(() => runEvery('test stack teardown', teardowns.splice(0).reverse()));

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function dropDatabase(baseUrl: string, database: string): Promise<void> {
  const c = new pg.Client({ connectionString: baseUrl });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  } finally {
    await c.end();
  }
}

/**
 * A private stack per test file: its own database in the run's PostgreSQL, and its own
 * redis-server and nats-server (JetStream) on free loopback ports. Torn down after the file.
 */
export async function createTestStack(): Promise<TestStack> {
  const baseUrl = inject('pgUrl');
  const database = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  const databaseUrl = withDatabase(baseUrl, database);

  const dir = await mkdtemp(path.join(inject('runDir'), 'stack-'));
  const brokers: RunningBroker[] = [];
  const services: LocalService[] = [];
  const pools: pg.Pool[] = [];
  // Registered before anything starts, so whatever did start is stopped even if a later step fails.
  teardowns.push([
    path.basename(dir),
    () =>
      runEvery(path.basename(dir), [
        // SPEC section 9: the ledger balances after every test file, whatever it did.
        [
          'ledger balances',
          async () => {
            if (!pools.length) return;
            const problems = await ledgerProblems(pools[0]!);
            if (problems.length) throw new Error(`the ledger does not balance: ${problems.join('; ')}`);
          },
        ],
        ['brokers', () => Promise.all(brokers.map((b) => b.stop()))],
        ['assertion pool', () => Promise.all(pools.map((p) => p.end()))],
        ['Valkey and NATS', () => Promise.all(services.map((s) => s.stop()))],
        ['database', () => dropDatabase(baseUrl, database)],
        ['folder', () => rm(dir, { recursive: true, force: true })],
      ]),
  ]);
  const [redis, nats] = await Promise.all([
    startRedisServer(path.join(dir, 'redis')),
    startNatsServer(path.join(dir, 'nats')),
  ]);
  services.push(...[redis, nats].filter((s) => s !== undefined));
  if (!redis || !nats)
    throw new Error('redis-server and nats-server must be installed (scripts/install-deps.sh)');
  const db = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  // pool.end() resolves once its clients are told to end, not once they have: the teardown's
  // DROP DATABASE ... WITH (FORCE) can still reach one, whose 57P01 the pool then emits. Without a
  // listener that is an uncaught exception in the test file (seen once in CI, after farming.test.ts).
  db.on('error', () => undefined);
  pools.push(db);
  const env = (extra: Record<string, string | undefined> = {}) => ({
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATABASE_URL: databaseUrl,
    REDIS_URL: redis.url,
    NATS_URL: nats.url,
    ADMIN_TOKEN,
    MIGRATE_ON_START: 'true',
    SCHEDULER_ENABLED: 'false',
    DATA_DIR: dir,
    ...extra,
  });

  return {
    databaseUrl,
    redis,
    nats,
    dir,
    db,
    env,
    async broker(extra, options) {
      const b = await start({ ...options, env: env(extra) });
      brokers.push(b);
      return b;
    },
  };
}
