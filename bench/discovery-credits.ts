/**
 * Discovery latency with 100,000 agents loaded, and the credit job's time for 10,000 agents:
 *   npm run build && npx tsx bench/discovery-credits.ts [--agents 100000] [--seconds 10] [--workers 8]
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { parseEnv } from '../app/config/env.js';
import { closeContext, createContext } from '../app/context.js';
import { distributeCredits } from '../app/jobs/credits.js';
import { createLogger } from '../app/logger.js';
import { ADMIN_TOKEN } from '../test/helpers/admin-token.js';
import { seedAgents } from './seed-agents.js';
import { benchServices, startBroker } from './services.js';

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '100000' },
    seconds: { type: 'string', default: '10' },
    workers: { type: 'string', default: '8' },
  },
});
const services = await benchServices();
const broker = await startBroker(services, {
  RATE_LIMIT_SEARCH: '1000000',
  RATE_LIMIT_GET: '1000000',
  RATE_LIMIT_API_READ: '1000000',
  RATE_LIMIT_IP_WRITE: '1000000',
  RATE_LIMIT_AUTH_FAILURE: '1000000',
  RATE_LIMIT_PROBE: '1000000',
});
const base = broker.url;
const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
try {
  const db = new pg.Pool({ connectionString: services.databaseUrl });
  const seedSeconds = await seedAgents(db, Number(values.agents));
  console.log(
    JSON.stringify({
      seeded_agents: Number(values.agents),
      seed_seconds: seedSeconds,
    }),
  );

  const key = (
    (await (
      await fetch(`${base}/api/admin/api-keys`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'bench', address: '0x00000000000000000000000000000000000000bb' }),
      })
    ).json()) as { key: string }
  ).key;
  for (const query of [
    '?q=legal%20contracts&limit=20',
    '?q=geocoding&limit=20',
    '?tag=finance&limit=20',
    '?limit=20',
  ]) {
    const latencies: number[] = [];
    const deadline = Date.now() + Number(values.seconds) * 1000;
    await Promise.all(
      Array.from({ length: Number(values.workers) }, async () => {
        while (Date.now() < deadline) {
          const s = performance.now();
          const r = await fetch(`${base}/api/discovery${query}`, { headers: { 'X-API-Key': key } });
          await r.arrayBuffer();
          if (r.status !== 200) throw new Error(`status ${r.status}`);
          latencies.push(performance.now() - s);
        }
      }),
    );
    latencies.sort((a, b) => a - b);
    const round = (x: number) => Math.round(x * 10) / 10;
    console.log(
      JSON.stringify({
        query: `/api/discovery${query}`,
        requests: latencies.length,
        rps: Math.round(latencies.length / Number(values.seconds)),
        p50_ms: round(pct(latencies, 0.5)),
        p95_ms: round(pct(latencies, 0.95)),
        p99_ms: round(pct(latencies, 0.99)),
      }),
    );
  }

  // Credits: 10,000 eligible agents, one hour window.
  await db.query(
    `DELETE FROM agent_usefulness WHERE did NOT IN (SELECT did FROM agent_usefulness ORDER BY did LIMIT 10000)`,
  );
  await db.query(`UPDATE agent_usefulness SET score = 10 + random() * 90`);
  await db.end();
  const ctx = await createContext(
    parseEnv({ DATABASE_URL: services.databaseUrl }),
    createLogger({ level: 'warn' }),
    'bench',
  );
  const c0 = performance.now();
  const counts = await distributeCredits(ctx, new AbortController().signal);
  console.log(
    JSON.stringify({
      credits_agents: 10000,
      seconds: Math.round((performance.now() - c0) / 10) / 100,
      counts,
    }),
  );
  await closeContext(ctx);
} finally {
  await broker.stop();
  await services.stop();
}
