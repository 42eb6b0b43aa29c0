import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../app/local/free-port.js';
import { runMain } from './helpers/process.js';

let dataDir: string;
afterAll(async () => {
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

async function startLocal(port: number) {
  const run = runMain(['local'], { DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn' });
  const t0 = Date.now();
  while (!/ready in \d+ ms/.test(run.output())) {
    if (run.child.exitCode !== null || Date.now() - t0 > 60_000) throw new Error(run.output());
    await new Promise((r) => setTimeout(r, 50));
  }
  return { ...run, readyMs: Date.now() - t0 };
}

describe('npm start (the local stack)', () => {
  it('brings up embedded PostgreSQL, Valkey and NATS, serves healthy, keeps data, and stops cleanly', async () => {
    dataDir = await mkdtemp(path.join(inject('runDir'), 'local-'));
    const port = await freePort();
    const first = await startLocal(port);
    const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as any;
    expect(health).toMatchObject({ status: 'healthy', checks: { database: 'up', redis: 'up', nats: 'up' } });
    const token = (await readFile(path.join(dataDir, 'admin-token'), 'utf8')).trim();
    expect(token.length).toBeGreaterThanOrEqual(32);
    expect(first.output()).toContain(`$(cat ${path.join(dataDir, 'admin-token')})`);
    expect(first.output()).not.toContain(token);

    // What a tool outside needs, written for it (mode 600: the database URL holds its password).
    const servicesEnv = path.join(dataDir, 'services.env');
    const env1 = await readFile(servicesEnv, 'utf8');
    expect((await stat(servicesEnv)).mode & 0o777).toBe(0o600);
    expect(env1).toMatch(/^DATABASE_URL=postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/postgres$/m);
    expect(env1).toMatch(/^REDIS_URL=redis:\/\/127\.0\.0\.1:\d+$/m);
    expect(env1).toMatch(/^NATS_URL=nats:\/\/127\.0\.0\.1:\d+$/m);
    expect(env1).toContain(`BROKER_URL=http://localhost:${port}`);
    expect(first.output()).toContain(servicesEnv);
    const ports1 = await readFile(path.join(dataDir, 'ports.json'), 'utf8');

    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/live`)).rejects.toThrow();

    // Second start reuses the cluster and the token (data kept under DATA_DIR).
    const second = await startLocal(port);
    expect(second.output()).toContain('admin token read from');
    expect((await readFile(path.join(dataDir, 'admin-token'), 'utf8')).trim()).toBe(token);
    expect((await fetch(`http://127.0.0.1:${port}/ready`)).status).toBe(200);
    // The same service ports as before (they were free): URLs saved from services.env still work.
    expect(await readFile(path.join(dataDir, 'ports.json'), 'utf8')).toBe(ports1);
    expect(await readFile(servicesEnv, 'utf8')).toBe(env1);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    console.info(`local stack ready: cold ${first.readyMs} ms, warm ${second.readyMs} ms`);
    // Two starts, one with initdb: a loaded 2-core machine needs more than the default 30 s.
  }, 150_000);
});
