import { createRequire } from 'node:module';
import pg from 'pg';
import type { Logger } from 'pino';
import { eventsWritten, transactionClosed, transactionOpened, wakeRelays } from './event-repository.js';

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
 * events, the relays are woken after the COMMIT (wakeRelays). The BEGIN is sent with the first
 * statement (issue 35: one round trip fewer per transaction, under load one wait of the event loop
 * fewer with the transaction open).
 */
export async function withTransaction<T>(db: Db, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await db.connect();
  transactionOpened(client);
  // BEGIN goes with the transaction's first statement, in one round trip, when that statement's
  // parameters can be written in (inlineParams); else alone, before it.
  const hadOwnQuery = Object.prototype.hasOwnProperty.call(client, 'query');
  const query = client.query;
  let begun = false;
  const raw = (sql: string) => (query as unknown as (t: string) => Promise<unknown>).call(client, sql);
  const pass = (args: unknown[]) =>
    (query as unknown as (...a: unknown[]) => Promise<unknown>).apply(client, args);
  client.query = function first(...args: unknown[]) {
    if (begun) return pass(args);
    begun = true;
    const [text, values] = args;
    const inlined =
      typeof text === 'string' && args.length <= 2 && (values === undefined || Array.isArray(values))
        ? inlineParams(text, (values as unknown[] | undefined) ?? [])
        : undefined;
    if (inlined !== undefined)
      // The results after BEGIN's: one, or an array when the text held several statements.
      return (raw(`BEGIN;\n${inlined}`) as Promise<pg.QueryResult[]>).then((results) =>
        results.length === 2 ? results[1] : results.slice(1),
      );
    return raw('BEGIN').then(() => pass(args));
  } as typeof client.query;
  try {
    const result = await fn(client);
    if (begun && !committedInline.delete(client)) await raw('COMMIT');
    // Outbox events committed: wake the relays (after the commit, see wakeRelays).
    if (transactionClosed(client)) wakeRelays(db);
    return result;
  } catch (err) {
    if (begun) await raw('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    if (hadOwnQuery) client.query = query;
    else delete (client as { query?: unknown }).query;
    committedInline.delete(client);
    transactionClosed(client);
    client.release();
  }
}

const committedInline = new WeakSet<object>();

// node-pg's own conversion of a bound value to its text form (arrays, dates, JSON, ...).
const pgUtils = createRequire(import.meta.url)('pg/lib/utils') as {
  prepareValue(value: unknown): string | Buffer | null;
};

/**
 * `text` with its parameters ($1, $2, ...) written in as literals: each value converted to text as
 * node-pg converts a bound parameter, then escaped (escapeLiteral); quoted, so the server infers its
 * type from where it stands, as it does for an untyped bound parameter. undefined when that cannot
 * be done safely: a binary value, a missing value, or a `$` digit that stands inside a quoted string.
 */
export function inlineParams(text: string, values: readonly unknown[]): string | undefined {
  const quoted = text.match(/'(?:[^']|'')*'/g) ?? [];
  if (text.includes('$$') || quoted.some((q) => /\$\d/.test(q))) return undefined;
  let ok = true;
  const out = text.replace(/\$(\d+)/g, (_, n: string) => {
    const i = Number(n) - 1;
    if (i < 0 || i >= values.length) {
      ok = false;
      return '';
    }
    const v = pgUtils.prepareValue(values[i]);
    if (v === null) return 'NULL';
    if (typeof v !== 'string') {
      ok = false;
      return '';
    }
    return pg.escapeLiteral(v);
  });
  return ok ? out : undefined;
}

/**
 * The last statement of a withTransaction and its COMMIT in one round trip (issue 35): the
 * statement's parameters ($1, $2, ... in `text`, which must hold no other `$` digit) are written
 * in as literals, and the two statements go as one simple query. The row locks the statement takes
 * are then held for its execution and the commit only, never while this process's event loop
 * gets round to sending COMMIT (under load, milliseconds: every other writer of those rows waits
 * that long). withTransaction sends no COMMIT after it; an error rolls back as usual. Triggers
 * fired by the statement send no NOTIFY (migration 0015: a NOTIFY holds a database-wide lock over
 * the commit); the relays are woken after the commit instead. Returns the statement's rows.
 */
export async function queryThenCommit<R extends pg.QueryResultRow>(
  tx: pg.PoolClient,
  text: string,
  values: unknown[],
): Promise<R[]> {
  const inlined = inlineParams(text, values);
  if (inlined === undefined) throw new Error('queryThenCommit: parameters that cannot be written in');
  // Triggers that write outbox events (the cache invalidations of migration 0008) send no NOTIFY
  // in this transaction (migration 0015): withTransaction wakes the relays after the commit.
  const results = (await tx.query(
    `SET LOCAL ainp.wake_after_commit = on;\n${inlined};\nCOMMIT`,
  )) as unknown as pg.QueryResult<R>[];
  committedInline.add(tx);
  eventsWritten(tx);
  return results[1]!.rows;
}
