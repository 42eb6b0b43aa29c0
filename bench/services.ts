import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { startNatsServer, startRedisServer } from '../app/local/child-service.js';
import { startEmbeddedPostgres } from '../app/local/embedded-postgres.js';
import { freePort } from '../app/local/free-port.js';
import { runEvery } from '../app/local/run-every.js';
import { LIMIT_CLASSES } from '../app/config/settings.js';
import { ADMIN_TOKEN } from '../test/helpers/admin-token.js';

/** Every rate-limit class lifted, whatever classes the broker gains later: a benchmark measures the work. */
export const UNLIMITED: Record<string, string> = Object.fromEntries(
  LIMIT_CLASSES.map((c) => [`RATE_LIMIT_${c.toUpperCase()}`, '1000000']),
);

/**
 * PostgreSQL, Valkey and NATS in a temporary folder for one benchmark run. With `statements`,
 * PostgreSQL is restarted once with pg_stat_statements loaded (bench/round-trips.ts counts the
 * statements each request sends).
 */
export async function benchServices({ statements = false }: { statements?: boolean } = {}) {
  const dir = await mkdtemp(path.join(tmpdir(), 'ainp-bench-'));
  await chmod(dir, 0o755); // PostgreSQL runs as its own user when we are root
  let pg = await startEmbeddedPostgres({ dir: path.join(dir, 'pg') });
  if (statements) {
    const admin = new Client({ connectionString: pg.url });
    await admin.connect();
    try {
      await admin.query(`ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'`);
      await admin.query(`ALTER SYSTEM SET pg_stat_statements.track_utility = on`);
      await admin.query(`ALTER SYSTEM SET pg_stat_statements.track_planning = on`);
    } finally {
      await admin.end();
    }
    await pg.stop();
    pg = await startEmbeddedPostgres({ dir: path.join(dir, 'pg') });
  }
  const redis = (await startRedisServer(path.join(dir, 'redis')))!;
  const nats = (await startNatsServer(path.join(dir, 'nats')))!;
  const stop = () =>
    runEvery('stopping the benchmark services', [
      ['Valkey', () => redis.stop()],
      ['NATS', () => nats.stop()],
      ['PostgreSQL', () => pg.stop()],
      ['folder', () => rm(dir, { recursive: true, force: true })],
    ]);
  // Ctrl-C or a SIGTERM skips the benchmark's `finally`: stop everything here, then exit.
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => void stop().finally(() => process.exit(130)));
  return { databaseUrl: pg.url, redisUrl: redis.url, natsUrl: nats.url, stop };
}

export type BenchServices = Awaited<ReturnType<typeof benchServices>>;

/**
 * Starts `node [nodeArgs] dist/app/main.js serve` on a free port against the bench services and
 * waits until it is ready. Returns its base URL and a stop function. `nodeArgs` takes Node's own
 * flags, e.g. `--cpu-prof --cpu-prof-dir=.test-data/prof` for a flame graph of the run (the profile
 * is written when the broker exits on stop()).
 */
export async function startBroker(
  services: BenchServices,
  env: Record<string, string> = {},
  nodeArgs: string[] = [],
) {
  const port = await freePort();
  const child = spawn(process.execPath, [...nodeArgs, 'dist/app/main.js', 'serve'], {
    env: {
      ...process.env,
      DATABASE_URL: services.databaseUrl,
      REDIS_URL: services.redisUrl,
      NATS_URL: services.natsUrl,
      ADMIN_TOKEN,
      PORT: String(port),
      HOST: '127.0.0.1',
      MIGRATE_ON_START: 'true',
      NODE_ENV: 'production',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const ready = () =>
    fetch(`${url}/ready`).then(
      (r) => r.ok,
      () => false,
    );
  while (!(await ready())) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`broker exited with ${child.exitCode ?? child.signalCode}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, pid: child.pid, stop: () => stopChild(child) };
}

/** SIGTERM, then the exit (at once when the child has already exited). */
async function stopChild(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/**
 * Starts bench/bare-express.ts (the baseline of the ratio bars: a bare Express 5 app answering
 * GET /ping with a small JSON body) on a free port. Returns its base URL and a stop function.
 */
export function startBareExpress() {
  return startScript('bench/bare-express.ts', {});
}

/**
 * Starts bench/floor-app.ts (the floor of the write bars: only the work every implementation must
 * do, see there) against the services' database and Valkey, accepting `key` for `owner`; `env`
 * as the broker's (the rate limits the benchmark lifts for both).
 */
export function startFloor(
  services: BenchServices,
  key: string,
  owner: string,
  env: Record<string, string> = {},
) {
  return startScript('bench/floor-app.ts', {
    ...env,
    DATABASE_URL: services.databaseUrl,
    REDIS_URL: services.redisUrl,
    FLOOR_KEY: key,
    FLOOR_OWNER: owner,
    NODE_ENV: 'production', // as the broker runs
  });
}

/** Runs a TypeScript server whose first stdout line is {"port": N}; its URL, pid and stop. */
async function startScript(script: string, env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, ...env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n')[0]!;
      if (out.includes('\n')) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  child.stdout!.resume();
  return { url: `http://127.0.0.1:${port}`, pid: child.pid, stop: () => stopChild(child) };
}
