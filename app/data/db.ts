import pg from 'pg';
import type { Logger } from 'pino';
import { transactionClosed, transactionOpened, wakeRelays } from './event-repository.js';

export type Db = pg.Pool;

export interface DbOptions {
  url: string;
  max: number;
  idleTimeoutMs: number;
  connectionTimeoutMs: number;
  statementTimeoutMs: number;
  applicationName?: string;
}

// BIGINT (int8) and NUMERIC stay strings: money is never squeezed through a float.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => v);

export function createPool(opts: DbOptions, logger: Logger): Db {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.max,
    idleTimeoutMillis: opts.idleTimeoutMs,
    connectionTimeoutMillis: opts.connectionTimeoutMs,
    statement_timeout: opts.statementTimeoutMs,
    application_name: opts.applicationName ?? 'ainp-broker',
  });
  // An idle client losing its connection (database restart) must not crash the process.
  pool.on('error', (err) => logger.warn({ err: err.message }, 'idle database client error'));
  return pool;
}

export async function pingDb(db: Db): Promise<boolean> {
  try {
    await db.query('SELECT 1');
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `fn` in one transaction on one client; rolls back on any error. When it appended outbox
 * events, the relays are woken after the COMMIT (wakeRelays).
 */
export async function withTransaction<T>(db: Db, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await db.connect();
  transactionOpened(client);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    // Outbox events committed: wake the relays (after the commit, see wakeRelays).
    if (transactionClosed(client)) wakeRelays(db);
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    transactionClosed(client);
    client.release();
  }
}
