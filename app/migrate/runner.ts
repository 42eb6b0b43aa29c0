import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';

/**
 * The migration runner of SPEC section 7: plain SQL files `NNNN_name.sql` with `NNNN_name.down.sql`,
 * applied in order, each in its own transaction, under a session advisory lock (so two runners at
 * once are safe: the second waits, then finds nothing to do), recorded with a checksum so an
 * applied file that was edited afterwards is refused.
 */

export interface Migration {
  version: number;
  name: string;
  file: string;
  sql: string;
  checksum: string;
  down?: string;
}

export interface AppliedMigration {
  version: number;
  name: string;
  checksum: string;
  applied_at: string;
}

export interface MigrationStatus {
  applied: AppliedMigration[];
  pending: Migration[];
  /** Applied by a newer release; fine under expand/contract, reported for operators. */
  unknown: AppliedMigration[];
  modified: { version: number; name: string }[];
}

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

// An arbitrary constant shared by every runner of this project ("ainp" in ASCII).
const LOCK_KEY = 0x61696e70;
const FILE_RE = /^(\d{4})_([a-z0-9_]+)\.sql$/;
const DOWN_RE = /^(\d{4})_([a-z0-9_]+)\.down\.sql$/;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export async function loadMigrations(dir: string): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const ups = new Map<number, Migration>();
  const downs = new Map<number, string>();
  for (const file of files) {
    const down = DOWN_RE.exec(file);
    const up = down ? null : FILE_RE.exec(file);
    const match = down ?? up;
    if (!match)
      throw new MigrationError(`${file}: migration files are named NNNN_name.sql / NNNN_name.down.sql`);
    const version = Number(match[1]);
    const sql = await readFile(path.join(dir, file), 'utf8');
    if (down) {
      downs.set(version, sql);
      continue;
    }
    if (ups.has(version)) throw new MigrationError(`${file}: version ${match[1]} is used twice`);
    ups.set(version, { version, name: match[2]!, file, sql, checksum: sha256(sql) });
  }
  for (const [version, sql] of downs) {
    const up = ups.get(version);
    if (!up) throw new MigrationError(`down file for version ${version} has no matching up file`);
    up.down = sql;
  }
  return [...ups.values()].sort((a, b) => a.version - b.version);
}

async function ensureTable(client: pg.ClientBase): Promise<void> {
  await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
}

async function readApplied(client: pg.ClientBase): Promise<AppliedMigration[]> {
  const exists = await client.query(`SELECT to_regclass('schema_migrations') IS NOT NULL AS ok`);
  if (!exists.rows[0].ok) return [];
  const { rows } = await client.query<AppliedMigration>(
    `SELECT version, name, checksum, to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS applied_at
       FROM schema_migrations ORDER BY version`,
  );
  return rows;
}

export function compare(files: Migration[], applied: AppliedMigration[]): MigrationStatus {
  const byVersion = new Map(files.map((m) => [m.version, m]));
  const appliedVersions = new Set(applied.map((a) => a.version));
  return {
    applied,
    pending: files.filter((m) => !appliedVersions.has(m.version)),
    unknown: applied.filter((a) => !byVersion.has(a.version)),
    modified: applied
      .filter((a) => byVersion.has(a.version) && byVersion.get(a.version)!.checksum !== a.checksum)
      .map((a) => ({ version: a.version, name: a.name })),
  };
}

export async function migrationStatus(db: pg.Pool, files: Migration[]): Promise<MigrationStatus> {
  const client = await db.connect();
  try {
    return compare(files, await readApplied(client));
  } finally {
    client.release();
  }
}

async function withLock<T>(db: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await db.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    try {
      await ensureTable(client);
      return await fn(client);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => undefined);
    }
  } finally {
    client.release();
  }
}

function refuseModified(status: MigrationStatus): void {
  if (status.modified.length > 0) {
    const names = status.modified.map((m) => `${String(m.version).padStart(4, '0')}_${m.name}.sql`);
    throw new MigrationError(
      `applied migration(s) edited after they were applied (checksum mismatch): ${names.join(', ')}; ` +
        'restore the original file and put the change in a new migration',
    );
  }
}

async function inTransaction(
  client: pg.ClientBase,
  sql: string,
  after: () => Promise<unknown>,
  what: string,
) {
  try {
    await client.query('BEGIN');
    await client.query(sql);
    await after();
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw new MigrationError(`${what} failed: ${(err as Error).message}`);
  }
}

/** Applies every pending migration in order. Returns the files applied. */
export async function migrateUp(db: pg.Pool, files: Migration[]): Promise<string[]> {
  return withLock(db, async (client) => {
    const status = compare(files, await readApplied(client));
    refuseModified(status);
    const done: string[] = [];
    for (const m of status.pending) {
      await inTransaction(
        client,
        m.sql,
        () =>
          client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
            m.version,
            m.name,
            m.checksum,
          ]),
        m.file,
      );
      done.push(m.file);
    }
    return done;
  });
}

/** Reverts the last `steps` applied migrations with their down files. Returns the files reverted. */
export async function migrateDown(db: pg.Pool, files: Migration[], steps = 1): Promise<string[]> {
  return withLock(db, async (client) => {
    const status = compare(files, await readApplied(client));
    refuseModified(status);
    const byVersion = new Map(files.map((m) => [m.version, m]));
    const targets = status.applied.slice(-steps).reverse();
    const done: string[] = [];
    for (const a of targets) {
      const m = byVersion.get(a.version);
      if (!m)
        throw new MigrationError(
          `version ${a.version} (${a.name}) was applied by a newer release; no file here`,
        );
      if (m.down === undefined) throw new MigrationError(`${m.file} has no down file`);
      await inTransaction(
        client,
        m.down,
        () => client.query('DELETE FROM schema_migrations WHERE version = $1', [m.version]),
        `${m.file} (down)`,
      );
      done.push(m.file);
    }
    return done;
  });
}
