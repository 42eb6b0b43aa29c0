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
  /** Prepare parameterised statements once per connection (PreparingClient). */
  prepare?: boolean;
}

// BIGINT (int8) and NUMERIC stay strings: money is never squeezed through a float.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => v);

/** The most SQL texts one process prepares; texts past it run unprepared (bounds both ends' memory). */
export const PREPARED_TEXTS_MAX = 1000;
const statementNames = new Map<string, string>();
let statementSerial = 0;

/** The name `text` is prepared under, undefined once PREPARED_TEXTS_MAX texts have names. */
function statementName(text: string): string | undefined {
  let name = statementNames.get(text);
  if (name === undefined && statementNames.size < PREPARED_TEXTS_MAX) {
    name = `ainp_${++statementSerial}`;
    statementNames.set(text, name);
  }
  return name;
}

/**
 * PostgreSQL refuses to run a prepared statement whose result columns a migration changed
 * (SQLSTATE 0A000, "cached plan must not change result type"); every other schema change it
 * re-plans by itself.
 */
export function isPreparedResultChanged(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return (
    e?.code === '0A000' && typeof e.message === 'string' && e.message.includes('must not change result type')
  );
}

type QueryFn = (...args: unknown[]) => Promise<pg.QueryResult>;

/**
 * A pg client that prepares every statement sent with parameters (`query(text, values)`) once per
 * connection under a name, then only binds and executes it: PostgreSQL parses, analyses and
 * (once it settles on a generic plan) plans it once per connection instead of once per call
 * (issue 35: 19.7/17.9 → 14.9/15.1 ms of PostgreSQL CPU per settle → attest → finalize flow).
 * Statements without parameters, and query configs (`unprepared` in sql.ts), go as they are.
 * When a migration changed a prepared statement's result columns, the text gets a new name (so
 * every connection prepares it afresh) and, outside a transaction, the statement is sent once more;
 * inside one the transaction is already aborted, and the error reaches the caller (503, retry).
 */
class PreparingClient extends pg.Client {
  override query(...args: unknown[]): never {
    const [text, values, cb] = args;
    const send = super.query.bind(this) as unknown as QueryFn;
    // Only a text with parameters: one without goes as a simple query, which may hold several statements.
    const name =
      typeof text === 'string' && Array.isArray(values) && values.length ? statementName(text) : undefined;
    if (name === undefined) return send(...args) as never;
    const run = (n: string) => send({ name: n, text, values });
    const forget = () => {
      if (statementNames.get(text as string) === name) statementNames.delete(text as string);
    };
    const result = run(name).catch((err: unknown) => {
      // Not the server's error: a value pg could not encode, after which pg closes the statement on
      // the server while still counting it as prepared on this connection; or a lost connection.
      // The text takes a new name, so no connection binds a name its server may have dropped.
      if (typeof (err as { severity?: unknown })?.severity !== 'string') {
        forget();
        throw err;
      }
      if (!isPreparedResultChanged(err)) throw err;
      forget();
      const fresh = statementName(text as string);
      if (open.has(this) || fresh === undefined) throw err;
      return run(fresh);
    });
    if (typeof cb !== 'function') return result as never;
    result.then(
      (r) => (cb as (e: unknown, r?: unknown) => void)(null, r),
      (e: unknown) => (cb as (e: unknown) => void)(e),
    );
    return undefined as never;
  }
}

export function createPool(opts: DbOptions, logger: Logger): Db {
  const pool = new pg.Pool({
    Client: opts.prepare ? PreparingClient : pg.Client,
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
 * events, the relays are woken after the COMMIT (wakeRelays). BEGIN is sent before the first
 * statement (lazily: a transaction that sends nothing sends no BEGIN); it takes no lock, so the
 * round trip costs no other writer anything. Only the last statement may go with the COMMIT
 * (queryThenCommit).
 */
export async function withTransaction<T>(db: Db, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await db.connect();
  transactionOpened(client);
  committedInline.delete(client);
  const hadOwnQuery = Object.prototype.hasOwnProperty.call(client, 'query');
  const query = client.query;
  let begun = false;
  const raw = (sql: string) => (query as unknown as (t: string) => Promise<unknown>).call(client, sql);
  const pass = (args: unknown[]) =>
    (query as unknown as (...a: unknown[]) => Promise<unknown>).apply(client, args);
  client.query = function first(...args: unknown[]) {
    if (begun) return pass(args);
    begun = true;
    return raw('BEGIN').then(() => pass(args));
  } as typeof client.query;
  open.add(client);
  try {
    const result = await fn(client);
    if (begun && !committedInline.delete(client)) await raw('COMMIT');
    // Outbox events committed: wake the relays (after the commit, see wakeRelays).
    if (transactionClosed(client)) wakeRelays(db);
    return result;
  } catch (err) {
    if (begun && !committedInline.has(client)) await raw('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    open.delete(client);
    if (hadOwnQuery) client.query = query;
    else delete (client as { query?: unknown }).query;
    committedInline.delete(client);
    transactionClosed(client);
    client.release();
  }
}

/** Clients inside withTransaction, and those whose transaction queryThenCommit already committed. */
const open = new WeakSet<object>();
const committedInline = new WeakSet<object>();

// node-pg's own conversion of a bound value to its text form (arrays, dates, JSON, ...).
const pgUtils = createRequire(import.meta.url)('pg/lib/utils') as {
  prepareValue(value: unknown): string | Buffer | null;
};

/**
 * The SQL text is inlined only when it is plain: one statement of words, numbers, operators,
 * `$n` placeholders and simple single-quoted strings ('...' with '' inside). Anything a lexer could
 * read two ways (comments, double-quoted identifiers, E'' / U&'' / B'' / X'' strings, backslashes,
 * dollar quoting, `;`, a `$n` inside a string) is refused, and the caller binds the parameters
 * instead. The text is the program's own, never input; values are only ever escaped literals.
 */
function plainSql(text: string): boolean {
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === "'") {
      // A string must follow something that is not part of a word (E'', U&'', B'', X'' prefixes).
      if (i > 0 && /[A-Za-z0-9_&]/.test(text[i - 1]!)) return false;
      let j = i + 1;
      for (;;) {
        const k = text.indexOf("'", j);
        if (k < 0) return false;
        if (text[k + 1] === "'") {
          j = k + 2;
          continue;
        }
        if (/[$\\]/.test(text.slice(i + 1, k))) return false;
        i = k + 1;
        break;
      }
      continue;
    }
    if (c === '"' || c === '\\' || c === ';') return false;
    if ((c === '-' && text[i + 1] === '-') || (c === '/' && text[i + 1] === '*')) return false;
    if (c === '$' && !/[0-9]/.test(text[i + 1] ?? '')) return false;
    // A `$n` glued to a word (`a$1`) is an identifier, not a placeholder.
    if (c === '$' && i > 0 && /[A-Za-z0-9_]/.test(text[i - 1]!)) return false;
    i++;
  }
  return true;
}

/**
 * `text` with its parameters ($1, $2, ...) written in as literals: each value converted to text as
 * node-pg converts a bound parameter, then escaped (escapeLiteral); quoted, so the server infers its
 * type from where it stands, as it does for an untyped bound parameter. undefined when that cannot
 * be done safely: text that is not plain (plainSql), a binary value, or a missing value.
 */
export function inlineParams(text: string, values: readonly unknown[]): string | undefined {
  if (!plainSql(text)) return undefined;
  let ok = true;
  const out = text.replace(/\$(\d+)/g, (_, n: string) => {
    const i = Number(n) - 1;
    if (i < 0 || i >= values.length) {
      ok = false;
      return '';
    }
    const v = pgUtils.prepareValue(values[i]);
    if (v === null) return 'NULL';
    if (typeof v !== 'string' || v.includes('\0')) {
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
  if (!open.has(tx)) throw new Error('queryThenCommit: only inside withTransaction');
  const inlined = inlineParams(text, values);
  let rows: R[];
  if (inlined !== undefined) {
    // Triggers that write outbox events (the cache invalidations of migration 0008) send no NOTIFY
    // in this transaction (migration 0015): withTransaction wakes the relays after the commit.
    const results = (await tx.query(
      `SET LOCAL ainp.wake_after_commit = on;\n${inlined};\nCOMMIT`,
    )) as unknown as pg.QueryResult<R>[];
    rows = results[1]!.rows;
  } else {
    // Text that cannot be inlined safely: bound, then COMMIT, one round trip more.
    await tx.query('SET LOCAL ainp.wake_after_commit = on');
    rows = (await tx.query<R>(text, values)).rows;
    await tx.query('COMMIT');
  }
  committedInline.add(tx);
  eventsWritten(tx);
  // Committed: anything after it would run outside the transaction, so nothing may follow.
  tx.query = (() =>
    Promise.reject(new Error('queryThenCommit: the transaction is committed; nothing may follow'))) as never;
  return rows;
}
