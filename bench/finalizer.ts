/**
 * Finalizer benchmark (SPEC bars: 10,000 ready receipts in under 10 s; a run over receipts that
 * are not ready yet ends in one pass):
 *   npx tsx bench/finalizer.ts [--receipts 10000] [--not-ready 10000] [--batch 100]
 * Run 1 walks the ready and the not-ready receipts together; run 2 walks what is left (the
 * not-ready ones) and must claim each exactly once.
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
  options: {
    receipts: { type: 'string', default: '10000' },
    'not-ready': { type: 'string', default: '10000' },
    batch: { type: 'string', default: '100' },
  },
});
const n = Number(values.receipts);
const notReady = Number(values['not-ready']);
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
  const committee = ['did:key:zA', 'did:key:zB', 'did:key:zC'];
  await seedReadyReceipts(seedDb, { n, providers, committee });
  if (notReady) await seedReadyReceipts(seedDb, { n: notReady, providers, committee, ready: false });
  await seedDb.query('ANALYZE');
  await seedDb.end();
  for (const run of ['ready + not ready', 'not ready only']) {
    const t0 = performance.now();
    const counts = await finalizePending(ctx, new AbortController().signal);
    const seconds = (performance.now() - t0) / 1000;
    console.log(
      JSON.stringify({
        run,
        ready: run === 'not ready only' ? 0 : n,
        not_ready: notReady,
        batch: Number(values.batch),
        seconds: Math.round(seconds * 1000) / 1000,
        finalized_per_second: counts.finalized ? Math.round(counts.finalized / seconds) : 0,
        counts,
      }),
    );
  }
  await closeContext(ctx);
} finally {
  await services.stop();
}
