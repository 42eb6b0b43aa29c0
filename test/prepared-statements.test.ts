import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, isPreparedResultChanged, withTransaction, type Db } from '../app/data/db.js';
import { unprepared } from '../app/data/sql.js';
import { errorHandler } from '../app/http/errors.js';
import { createTestStack, type TestStack } from './helpers/stack.js';

// Statements with parameters are prepared once per connection (issue 35), and a migration that
// changes a prepared statement's result columns costs at most the one statement inside a
// transaction, never the process.
let stack: TestStack;
const pools: Db[] = [];
const pool = (prepare: boolean) => {
  const p = createPool(
    {
      url: stack.databaseUrl,
      max: 1,
      idleTimeoutMs: 10_000,
      connectionTimeoutMs: 5_000,
      statementTimeoutMs: 5_000,
      prepare,
    },
    pino({ level: 'silent' }),
  );
  pools.push(p);
  return p;
};
// Read with no parameters, so this query is never prepared itself.
const prepared = async (db: Db) =>
  (
    await db.query<{ statement: string }>(
      `SELECT statement FROM pg_prepared_statements ORDER BY prepare_time`,
    )
  ).rows.map((r) => r.statement);

beforeAll(async () => {
  stack = await createTestStack();
  await stack.db.query(`CREATE TABLE prep (id int PRIMARY KEY, t text)`);
  await stack.db.query(`INSERT INTO prep VALUES (1, 'one'), (2, 'two')`);
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
});

describe('prepared statements', () => {
  it('prepares a statement with parameters once per connection and binds it after that', async () => {
    const db = pool(true);
    const text = `SELECT t FROM prep WHERE id = $1`;
    expect((await db.query(text, [1])).rows).toEqual([{ t: 'one' }]);
    expect((await db.query(text, [2])).rows).toEqual([{ t: 'two' }]);
    await withTransaction(db, async (tx) => {
      expect((await tx.query(text, [1])).rows).toEqual([{ t: 'one' }]);
    });
    // One connection (max 1): the text was prepared on it once, whatever the number of calls.
    expect((await prepared(db)).filter((s) => s === text)).toHaveLength(1);
  });

  it('a value pg cannot encode fails that call only: the text is prepared afresh for the next', async () => {
    const db = pool(true);
    const text = `SELECT t FROM prep WHERE id = $1::int`;
    expect((await db.query(text, [1])).rows).toEqual([{ t: 'one' }]);
    // pg refuses the value while binding and closes the statement on the server.
    const bad = await withTransaction(db, (tx) => tx.query(text, [{ n: 1n }])).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(Error);
    expect((await db.query(text, [2])).rows).toEqual([{ t: 'two' }]);
  });

  it('leaves unprepared a query config (unprepared()) and a text without parameters', async () => {
    const db = pool(true);
    const before = (await prepared(db)).length;
    expect(
      (await db.query(unprepared(`SELECT t FROM prep WHERE id = $1 AND $2::text IS NULL`, [1, null]))).rows,
    ).toEqual([{ t: 'one' }]);
    expect((await db.query(`SELECT count(*)::int AS n FROM prep; SELECT 1`, [])) as unknown).toHaveLength(2);
    expect((await prepared(db)).length).toBe(before);
  });

  it('sends statements as before when turned off (DB_PREPARED_STATEMENTS=false)', async () => {
    const db = pool(false);
    expect((await db.query(`SELECT t FROM prep WHERE id = $1`, [2])).rows).toEqual([{ t: 'two' }]);
    expect(await prepared(db)).toEqual([]);
  });

  it('a migration that changes the result columns: retried outside a transaction, refused once inside one', async () => {
    const db = pool(true);
    const text = `SELECT p.* FROM prep p WHERE id = $1`;
    expect((await db.query(text, [1])).rows).toEqual([{ id: 1, t: 'one' }]);
    await stack.db.query(`ALTER TABLE prep ADD COLUMN n int NOT NULL DEFAULT 7`);
    // Outside a transaction the statement is prepared afresh and sent again: the caller sees the new column.
    expect((await db.query(text, [1])).rows).toEqual([{ id: 1, t: 'one', n: 7 }]);

    const inTx = `SELECT p.* FROM prep p WHERE id = $1 AND t IS NOT NULL`;
    await withTransaction(db, (tx) => tx.query(inTx, [2]));
    await stack.db.query(`ALTER TABLE prep ADD COLUMN m int NOT NULL DEFAULT 8`);
    // Inside one, the failed statement has aborted the transaction: the error reaches the caller...
    const err = await withTransaction(db, (tx) => tx.query(inTx, [2])).catch((e: unknown) => e);
    expect(isPreparedResultChanged(err)).toBe(true);
    // The request that met it is answered 503 with Retry-After, not 500.
    const app = express();
    app.get('/x', () => {
      throw err;
    });
    app.use(errorHandler(pino({ level: 'silent' })));
    const server = createServer(app).listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/x`);
      expect([
        res.status,
        res.headers.get('retry-after'),
        ((await res.json()) as { error: string }).error,
      ]).toEqual([503, '5', 'UNAVAILABLE']);
    } finally {
      server.close();
    }
    // ...and the next call prepares the text under a new name.
    const rows = await withTransaction(db, async (tx) => (await tx.query(inTx, [2])).rows);
    expect(rows).toEqual([{ id: 2, t: 'two', n: 7, m: 8 }]);
  });
});
