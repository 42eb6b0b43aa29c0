import path from 'node:path';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations, migrateUp } from '../app/migrate/runner.js';
import { inlineParams, queryThenCommit, withTransaction } from '../app/data/db.js';
import { createTestStack, type TestStack } from './helpers/stack.js';

// The last statement of a transaction sent with its COMMIT, its parameters written in as literals
// (issue 35): the values must arrive exactly as bound parameters would.
let stack: TestStack;
beforeAll(async () => {
  stack = await createTestStack();
  await migrateUp(stack.db, await loadMigrations(path.resolve('migrations')));
  await stack.db.query(
    `CREATE TABLE qtc (id int PRIMARY KEY, t text, a text[], n numeric, f float8, b boolean)`,
  );
});

describe('queryThenCommit', () => {
  it('writes in strings, arrays, numbers, booleans and NULL exactly, and commits', async () => {
    const nasty = `it's a "test" \\ with $1 and '' quotes; DROP TABLE qtc; --`;
    const rows = await withTransaction(stack.db, async (tx) => {
      await tx.query(`INSERT INTO qtc (id) VALUES (0)`);
      return queryThenCommit<{ id: number; t: string; a: string[]; n: string; f: number; b: boolean }>(
        tx,
        `INSERT INTO qtc (id, t, a, n, f, b) VALUES ($1::int, $2, $3::text[], $4::numeric, $5::float8, $6::boolean)
         RETURNING id, t, a, n::text AS n, f, b`,
        [1, nasty, [nasty, null, 'x,y', '{z}'], '123456789012345678901234567890', 0.1 + 0.2, false],
      );
    });
    expect(rows).toEqual([
      {
        id: 1,
        t: nasty,
        a: [nasty, null, 'x,y', '{z}'],
        n: '123456789012345678901234567890',
        f: 0.1 + 0.2,
        b: false,
      },
    ]);
    const after = await stack.db.query(`SELECT id, t FROM qtc ORDER BY id`);
    expect(after.rows).toEqual([
      { id: 0, t: null },
      { id: 1, t: nasty },
    ]);
  });

  it('rolls the whole transaction back when the statement fails', async () => {
    await expect(
      withTransaction(stack.db, async (tx) => {
        await tx.query(`INSERT INTO qtc (id) VALUES (10)`);
        return queryThenCommit(tx, `INSERT INTO qtc (id) VALUES ($1::int)`, [0]); // duplicate key
      }),
    ).rejects.toThrow(/duplicate key/);
    expect((await stack.db.query(`SELECT count(*)::int AS n FROM qtc WHERE id = 10`)).rows[0].n).toBe(0);
  });

  it('a later failure rolls the first statement back; values are always bound outside queryThenCommit', async () => {
    await expect(
      withTransaction(stack.db, async (tx) => {
        await tx.query(`INSERT INTO qtc (id, t) VALUES ($1, $2)`, [20, 'first']);
        await tx.query(`INSERT INTO qtc (id) VALUES ($1)`, [20]); // duplicate key
      }),
    ).rejects.toThrow(/duplicate key/);
    expect((await stack.db.query(`SELECT count(*)::int AS n FROM qtc WHERE id = 20`)).rows[0].n).toBe(0);
    await withTransaction(stack.db, async (tx) => {
      await tx.query(`INSERT INTO qtc (id, t) VALUES ($1, encode($2::bytea, 'hex'))`, [
        21,
        Buffer.from([1, 2]),
      ]);
      await tx.query(`INSERT INTO qtc (id, t) VALUES ($1, $2)`, [22, 'second']);
    });
    expect((await stack.db.query(`SELECT id, t FROM qtc WHERE id IN (21, 22) ORDER BY id`)).rows).toEqual([
      { id: 21, t: '0102' },
      { id: 22, t: 'second' },
    ]);
  });

  it('refuses to write parameters in where a $ digit stands inside a quoted string', () => {
    expect(inlineParams(`SELECT $1, 'x' || $2`, ['a', 'b'])).toBe(`SELECT 'a', 'x' || 'b'`);
    expect(
      inlineParams(
        `SELECT $10, $1`,
        Array.from({ length: 10 }, (_, i) => `v${i + 1}`),
      ),
    ).toBe(`SELECT 'v10', 'v1'`);
    expect(inlineParams(`SELECT '$1', $1`, ['a'])).toBeUndefined();
    expect(inlineParams(`SELECT $2`, ['a'])).toBeUndefined();
    expect(inlineParams(`SELECT $1`, [Buffer.from([1])])).toBeUndefined();
    expect(inlineParams(`SELECT $1`, ['nul \0 byte'])).toBeUndefined();
  });

  // Texts a lexer could read two ways (found in review): each would let a value escape its literal.
  it.each([
    [`SELECT 1 -- it's\n, 'x $1 y'`, ['a']],
    [`SELECT E'it\\'s $1'`, ['a']],
    [`SELECT "ident's", $1`, ['a']],
    [`SELECT $q$ $1 $q$`, ['a']],
    [`SELECT $$ $1 $$`, ['a']],
    [`SELECT 1 -- note $1`, ['a\n; DROP TABLE qtc']],
    [`SELECT /* $1 */ 1`, ['*/ 1; DROP TABLE qtc; /*']],
    [`SELECT U&'d\\0061t$1'`, ['a']],
    [`SELECT a$1 FROM qtc`, ['a']],
    [`SELECT $1; SELECT $2`, ['a', 'b']],
  ])('is not written in: %s', (text, values) => {
    expect(inlineParams(text, values)).toBeUndefined();
  });

  it('falls back to bound parameters and a COMMIT of its own for text that is not plain', async () => {
    const value = `*/ 1; DROP TABLE qtc; /* it's`;
    const rows = await withTransaction(stack.db, (tx) =>
      queryThenCommit<{ t: string }>(tx, `/* $1 */ INSERT INTO qtc (id, t) VALUES (30, $1) RETURNING t`, [
        value,
      ]),
    );
    expect(rows).toEqual([{ t: value }]);
    expect((await stack.db.query(`SELECT t FROM qtc WHERE id = 30`)).rows).toEqual([{ t: value }]);
  });

  it('runs only inside withTransaction, and nothing may follow it there', async () => {
    const client = await stack.db.connect();
    try {
      await expect(queryThenCommit(client, `SELECT $1::int`, [1])).rejects.toThrow(
        'queryThenCommit: only inside withTransaction',
      );
    } finally {
      client.release();
    }
    await expect(
      withTransaction(stack.db, async (tx) => {
        await queryThenCommit(tx, `INSERT INTO qtc (id) VALUES ($1::int)`, [31]);
        await tx.query(`INSERT INTO qtc (id) VALUES (32)`);
      }),
    ).rejects.toThrow('queryThenCommit: the transaction is committed; nothing may follow');
    // What it committed stays; what came after never ran.
    expect((await stack.db.query(`SELECT id FROM qtc WHERE id IN (31, 32) ORDER BY id`)).rows).toEqual([
      { id: 31 },
    ]);
    // The connection went back clean: the next transaction on the pool commits as usual.
    await withTransaction(stack.db, (tx) => tx.query(`INSERT INTO qtc (id) VALUES (33)`));
    expect((await stack.db.query(`SELECT count(*)::int AS n FROM qtc WHERE id = 33`)).rows[0].n).toBe(1);
  });

  it('keeps a trigger of its statement from sending NOTIFY (migration 0015), and wakes the relays after the commit', async () => {
    const listener = new pg.Client({ connectionString: stack.databaseUrl });
    await listener.connect();
    let notified = 0;
    listener.on('notification', () => (notified += 1));
    await listener.query('LISTEN ainp_events');
    // A wake-up sent after an earlier test's commit may still arrive: start counting once quiet.
    await new Promise((r) => setTimeout(r, 500));
    notified = 0;
    try {
      const events = async () =>
        Number(
          (await stack.db.query(`SELECT count(*) AS n FROM events WHERE type = 'cache.invalidate'`)).rows[0]
            .n,
        );
      const before = await events();
      // Outside: the reputation trigger writes its event and NOTIFYs, as migration 0008 made it.
      await stack.db.query(`INSERT INTO reputations (did) VALUES ('did:key:zWake1')`);
      await expect.poll(() => notified).toBe(1);
      expect(await events()).toBe(before + 1);
      // Through queryThenCommit: the event is written, the trigger sends nothing, and one wake-up
      // follows the commit (a NOTIFY from the trigger as well would make it 3: two transactions).
      await withTransaction(stack.db, (tx) =>
        queryThenCommit(tx, `INSERT INTO reputations (did) VALUES ($1)`, ['did:key:zWake2']),
      );
      expect(await events()).toBe(before + 2);
      await expect.poll(() => notified).toBe(2);
      await new Promise((r) => setTimeout(r, 200));
      expect(notified).toBe(2);
    } finally {
      await listener.end();
    }
  });
});
