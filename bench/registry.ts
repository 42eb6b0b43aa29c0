/**
 * Registry benchmark (issue 3): throughput and latency of GET /api/v1/agents/{id}, search and
 * register next to a bare Express 5 app, measured in the same run with autocannon on loopback.
 *   npm run build && npx tsx bench/registry.ts [--seconds 10] [--connections 50]
 * Starts its own PostgreSQL (embedded), Valkey and NATS in a temporary folder and stops them after.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { startNatsServer, startRedisServer } from '../app/local/child-service.js';
import { startEmbeddedPostgres } from '../app/local/embedded-postgres.js';
import { freePort } from '../app/local/free-port.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '10' }, connections: { type: 'string', default: '50' } },
});
const duration = Number(values.seconds);
const connections = Number(values.connections);
const ADMIN = 'bench-admin-token-0123456789abcdef';

async function spawnServer(
  args: string[],
  env: Record<string, string>,
): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited ${child.exitCode}`);
    if (
      await fetch(`http://127.0.0.1:${port}/`).then(
        () => true,
        () => false,
      )
    )
      return { child, port };
    if (Date.now() > deadline) throw new Error('server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function run(name: string, opts: autocannon.Options) {
  const r = await autocannon({ duration, connections, ...opts });
  // autocannon reports p90 and p97.5 (no p95): together they bound p95.
  const row = {
    name,
    rps: Math.round(r.requests.average),
    p50_ms: r.latency.p50,
    p90_ms: r.latency.p90,
    p97_5_ms: r.latency.p97_5,
    p99_ms: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
    total: r.requests.total,
  };
  console.log(JSON.stringify(row));
  return row;
}

const dir = await mkdtemp(path.join(tmpdir(), 'ainp-bench-'));
await chmod(dir, 0o755); // PostgreSQL runs as its own user when we are root
const pg = await startEmbeddedPostgres({ dir: path.join(dir, 'pg') });
const redis = (await startRedisServer(path.join(dir, 'redis')))!;
const nats = (await startNatsServer(path.join(dir, 'nats')))!;
const huge = '1000000';
const broker = await spawnServer(
  [
    ...(process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir=.test-data/prof'] : []),
    'dist/app/main.js',
    'serve',
  ],
  {
    DATABASE_URL: pg.url,
    REDIS_URL: redis.url,
    NATS_URL: nats.url,
    ADMIN_TOKEN: ADMIN,
    HOST: '127.0.0.1',
    MIGRATE_ON_START: 'true',
    NODE_ENV: 'production',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info', // production default: one JSON line per request
    RATE_LIMIT_GET: huge,
    RATE_LIMIT_SEARCH: huge,
    RATE_LIMIT_REGISTER: huge,
    RATE_LIMIT_API_READ: huge,
    RATE_LIMIT_SIGNED_WRITE: huge,
  },
);
const bare = await spawnServer(['--import', 'tsx', 'bench/bare-express.ts'], {});
const base = `http://127.0.0.1:${broker.port}`;
try {
  const keyRes = await fetch(`${base}/api/admin/api-keys`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'bench', address: '0x00000000000000000000000000000000000000be' }),
  });
  const { key } = (await keyRes.json()) as { key: string };
  const headers = { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' };
  const body = (i: number) =>
    JSON.stringify({
      name: `agent ${i}`,
      description: `benchmark agent number ${i} translating text`,
      chain_id: 8453,
      tags: ['bench', `t${i % 10}`],
    });
  let firstId = '';
  for (let i = 0; i < 1000; i++) {
    const r = await fetch(`${base}/api/v1/agents/register`, { method: 'POST', headers, body: body(i) });
    if (i === 0) firstId = ((await r.json()) as { id: string }).id;
    else await r.arrayBuffer();
  }
  console.log(JSON.stringify({ duration_s: duration, connections, agents: 1000 }));
  const results = [
    await run('bare express GET /ping', { url: `http://127.0.0.1:${bare.port}/ping` }),
    await run('GET /live (middleware only)', { url: `${base}/live` }),
    await run('GET /api/v1/agents/{id}', { url: `${base}/api/v1/agents/${firstId}`, headers }),
    await run('GET /api/v1/agents?tag=t3&limit=20 (search)', {
      url: `${base}/api/v1/agents?tag=t3&limit=20`,
      headers,
    }),
    await run('POST /api/v1/agents/register', {
      url: `${base}/api/v1/agents/register`,
      method: 'POST',
      headers,
      body: body(0),
    }),
  ];
  const bareRps = results[0]!.rps;
  for (const r of results.slice(1))
    console.log(JSON.stringify({ name: r.name, ratio_to_bare: Math.round((r.rps / bareRps) * 100) / 100 }));
} finally {
  broker.child.kill('SIGTERM');
  bare.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  await Promise.allSettled([redis.stop(), nats.stop(), pg.stop()]);
  await rm(dir, { recursive: true, force: true });
}
