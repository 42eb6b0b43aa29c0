/**
 * Finalizer benchmark (SPEC bar: 10,000 ready receipts in under 10 s):
 *   npx tsx bench/finalizer.ts [--receipts 10000] [--batch 100]
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { parseEnv } from '../app/config/env.js';
import { closeContext, createContext } from '../app/context.js';
import { finalizePending } from '../app/jobs/finalizer.js';
import { createLogger } from '../app/logger.js';
import { migrateUp } from '../app/migrate/runner.js';
import { seedReadyReceipts } from '../test/helpers/seed.js';
import { benchServices } from './services.js';

const { values } = parseArgs({
  options: { receipts: { type: 'string', default: '10000' }, batch: { type: 'string', default: '100' } },
});
const n = Number(values.receipts);
const services = await benchServices();
try {
  const env = parseEnv({
    DATABASE_URL: services.databaseUrl,
    REDIS_URL: services.redisUrl,
    NATS_URL: services.natsUrl,
    POU_FINALIZER_BATCH: values.batch,
  });
  const ctx = await createContext(env, createLogger({ level: 'warn' }), 'bench');
  await migrateUp(ctx.db, ctx.migrations);
  const seedDb = new pg.Pool({ connectionString: services.databaseUrl });
  const providers = Array.from({ length: 100 }, (_, i) => `did:key:zBenchProvider${i}`);
  await seedReadyReceipts(seedDb, { n, providers, committee: ['did:key:zA', 'did:key:zB', 'did:key:zC'] });
  await seedDb.query('ANALYZE');
  await seedDb.end();
  const t0 = performance.now();
  const counts = await finalizePending(ctx, new AbortController().signal);
  const seconds = (performance.now() - t0) / 1000;
  console.log(
    JSON.stringify({
      receipts: n,
      batch: Number(values.batch),
      seconds: Math.round(seconds * 1000) / 1000,
      per_second: Math.round(n / seconds),
      counts,
    }),
  );
  await closeContext(ctx);
} finally {
  await services.stop();
}
