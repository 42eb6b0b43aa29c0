import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startNatsServer, startRedisServer } from '../app/local/child-service.js';
import { startEmbeddedPostgres } from '../app/local/embedded-postgres.js';
import { freePort } from '../app/local/free-port.js';
import { runEvery } from '../app/local/run-every.js';
import { ADMIN_TOKEN } from '../test/helpers/admin-token.js';

/** PostgreSQL, Valkey and NATS in a temporary folder for one benchmark run. */
export async function benchServices() {
  const dir = await mkdtemp(path.join(tmpdir(), 'ainp-bench-'));
  await chmod(dir, 0o755); // PostgreSQL runs as its own user when we are root
  const pg = await startEmbeddedPostgres({ dir: path.join(dir, 'pg') });
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
 * Starts `node dist/app/main.js serve` on a free port against the bench services and waits until
 * it is ready. Returns its base URL and a stop function.
 */
export async function startBroker(services: BenchServices, env: Record<string, string> = {}) {
  const port = await freePort();
  const child = spawn(process.execPath, ['dist/app/main.js', 'serve'], {
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
    if (child.exitCode !== null) throw new Error(`broker exited with ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
