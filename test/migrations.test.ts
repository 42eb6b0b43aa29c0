import { cp, mkdtemp, writeFile, appendFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loadMigrations,
  migrateDown,
  migrateUp,
  migrationStatus,
  MigrationError,
} from '../app/migrate/runner.js';
import { createTestStack, type TestStack } from './helpers/stack.js';
import { runMain } from './helpers/process.js';

let stack: TestStack;
const pools: pg.Pool[] = [];
const newPool = () => {
  const p = new pg.Pool({ connectionString: stack.databaseUrl, max: 2 });
  pools.push(p);
  return p;
};

beforeAll(async () => {
  stack = await createTestStack();
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
});

async function copyMigrations(): Promise<string> {
  const dir = await mkdtemp(path.join(stack.dir, 'migrations-'));
  await cp(path.resolve('migrations'), dir, { recursive: true });
  return dir;
}

describe('migration runner', () => {
  it('applies every file once; a second run applies nothing', async () => {
    const files = await loadMigrations(path.resolve('migrations'));
    const db = newPool();
    expect(await migrateUp(db, files)).toEqual(files.map((f) => f.file));
    expect(await migrateUp(db, files)).toEqual([]);
    const s = await migrationStatus(db, files);
    expect(s.pending).toEqual([]);
    expect(s.applied.map((a) => a.version)).toEqual(files.map((f) => f.version));
  });

  it('is safe with two runners at once: each file is applied exactly once', async () => {
    const dir = await copyMigrations();
    await writeFile(
      path.join(dir, '9001_slow.sql'),
      'SELECT pg_sleep(0.3); CREATE TABLE lock_probe (id int);',
    );
    await writeFile(path.join(dir, '9001_slow.down.sql'), 'DROP TABLE lock_probe;');
    const files = await loadMigrations(dir);
    const [a, b] = await Promise.all([migrateUp(newPool(), files), migrateUp(newPool(), files)]);
    // One runner applied the new file; the other waited on the lock and found nothing to do.
    expect([...a, ...b]).toEqual(['9001_slow.sql']);
    const { rows } = await stack.db.query(
      'SELECT count(*)::int AS n FROM schema_migrations WHERE version = 9001',
    );
    expect(rows[0].n).toBe(1);
    expect(await migrateDown(newPool(), files, 1)).toEqual(['9001_slow.sql']);
    expect((await stack.db.query(`SELECT to_regclass('lock_probe') AS t`)).rows[0].t).toBeNull();
  });

  it('refuses to run when an applied migration was edited, naming the file', async () => {
    const dir = await copyMigrations();
    const db = newPool();
    await migrateUp(db, await loadMigrations(dir));
    await appendFile(path.join(dir, '0001_platform.sql'), '\n-- an edit after the fact\n');
    const edited = await loadMigrations(dir);
    await expect(migrateUp(db, edited)).rejects.toThrow(MigrationError);
    await expect(migrateUp(db, edited)).rejects.toThrow(/0001_platform\.sql/);
    expect((await migrationStatus(db, edited)).modified).toEqual([{ version: 1, name: 'platform' }]);
  });

  it('rolls a failed migration back whole and records nothing', async () => {
    const dir = await copyMigrations();
    await writeFile(
      path.join(dir, '9002_broken.sql'),
      'CREATE TABLE half_done (id int); SELECT no_such_function();',
    );
    const files = await loadMigrations(dir);
    await expect(migrateUp(newPool(), files)).rejects.toThrow(/9002_broken\.sql failed/);
    expect((await stack.db.query(`SELECT to_regclass('half_done') AS t`)).rows[0].t).toBeNull();
    expect((await migrationStatus(stack.db, files)).pending.map((m) => m.file)).toEqual(['9002_broken.sql']);
  });

  it('rejects badly named files', async () => {
    const dir = await copyMigrations();
    await writeFile(path.join(dir, '12_oops.sql'), 'SELECT 1');
    await expect(loadMigrations(dir)).rejects.toThrow(/12_oops\.sql: migration files are named/);
  });
});

describe('main.ts migrate (the Kubernetes Job entry point)', () => {
  it('exits 0 on up and status, and non-zero on an edited migration', async () => {
    const dir = await copyMigrations();
    const env = { DATABASE_URL: stack.databaseUrl, MIGRATIONS_DIR: dir, LOG_LEVEL: 'info' };
    const up = runMain(['migrate', 'up'], env);
    expect(await up.exited).toBe(0);
    const status = runMain(['migrate', 'status'], env);
    expect(await status.exited).toBe(0);
    expect(JSON.parse(status.output()).pending).toEqual([]);

    await appendFile(path.join(dir, '0001_platform.sql'), '\n-- edited\n');
    const refused = runMain(['migrate', 'up'], env);
    expect(await refused.exited).toBe(1);
    expect(refused.output()).toContain('checksum mismatch');
    // Three processes, each loading TypeScript: on a loaded 2-core machine that outlasts 30 s.
  }, 120_000);
});

describe('migrate waits, bounded, for a database that is still starting', () => {
  const freePort = () =>
    new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as net.AddressInfo;
        s.close(() => resolve(port));
      });
    });
  const urlOnPort = (port: number) => {
    const u = new URL(stack.databaseUrl);
    u.port = String(port);
    return u.toString();
  };

  it('retries until the database answers, then migrates', async () => {
    const target = new URL(stack.databaseUrl);
    const port = await freePort();
    // Nothing listens until migrate has been refused once (like the migration Job starting before
    // PostgreSQL); then a proxy to the real database does.
    let proxy: net.Server | undefined;
    try {
      const env = {
        DATABASE_URL: urlOnPort(port),
        MIGRATIONS_DIR: await copyMigrations(),
        LOG_LEVEL: 'info',
      };
      const up = runMain(['migrate', 'up'], { ...env, MIGRATE_CONNECT_RETRY_SECONDS: '60' });
      for (let i = 0; i < 600 && !up.output().includes('waiting for the database'); i++)
        await new Promise((r) => setTimeout(r, 100));
      proxy = net
        .createServer((client) => {
          const upstream = net.connect(Number(target.port), target.hostname);
          client.pipe(upstream).pipe(client);
          client.on('error', () => upstream.destroy());
          upstream.on('error', () => client.destroy());
        })
        .listen(port, '127.0.0.1');
      expect(await up.exited).toBe(0);
      expect(up.output()).toContain('waiting for the database');
      expect(up.output()).toContain('the database answers');
    } finally {
      await new Promise((r) => (proxy ? proxy.close(r) : r(undefined)));
    }
  }, 120_000);

  it('gives up after MIGRATE_CONNECT_RETRY_SECONDS with a message naming the wait', async () => {
    const started = Date.now();
    const up = runMain(['migrate', 'up'], {
      DATABASE_URL: urlOnPort(await freePort()),
      MIGRATIONS_DIR: await copyMigrations(),
      LOG_LEVEL: 'info',
      MIGRATE_CONNECT_RETRY_SECONDS: '2',
    });
    expect(await up.exited).toBe(1);
    expect(up.output()).toContain('the database did not answer within 2 s');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
  }, 120_000);
});
