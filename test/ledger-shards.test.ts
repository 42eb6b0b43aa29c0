import path from 'node:path';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations, migrateDown, migrateUp } from '../app/migrate/runner.js';
import { ledgerProblems } from './helpers/ledger.js';
import { createTestStack, type TestStack } from './helpers/stack.js';

// Migration 0014 (issue 35): a system account's balance is the sum of its shards; a transfer moves
// the shard its id picks; a debit of pool (which may not go negative) spreads over every shard.
let stack: TestStack;
let db: pg.Pool;

beforeAll(async () => {
  stack = await createTestStack();
  db = stack.db;
  await migrateUp(db, await loadMigrations(path.resolve('migrations')));
});

const transfer = (id: string, debit: string, credit: string, amount: number) =>
  db.query(
    `INSERT INTO ledger_transfers (id, debit_account, credit_account, amount_atomic, kind) VALUES ($1, $2, $3, $4, 'test')`,
    [id, debit, credit, amount],
  );
const balance = async (account: string) =>
  (await db.query(`SELECT balance_atomic::text AS b FROM ledger_accounts WHERE account = $1`, [account]))
    .rows[0]?.b;
const shards = async (account: string) =>
  (
    await db.query<{ shard: number; b: string }>(
      `SELECT shard, balance_atomic::text AS b FROM ledger_balances WHERE account = $1 AND balance_atomic <> 0 ORDER BY shard`,
      [account],
    )
  ).rows;

describe('sharded system accounts', () => {
  it('spreads credits of a system account over its shards, and its balance is their sum', async () => {
    for (let i = 0; i < 40; i++) await transfer(`shard-in:${i}`, 'treasury', 'pool', 10);
    expect(await balance('pool')).toBe('400');
    const used = await shards('pool');
    expect(used.length).toBeGreaterThan(8); // 40 ids over 32 shards
    expect(used.reduce((s, r) => s + Number(r.b), 0)).toBe(400);
    expect(await balance('treasury')).toBe('-400');
    expect(await ledgerProblems(db)).toEqual([]);
  });

  it('takes a debit of pool from every shard in order, and refuses one beyond their sum', async () => {
    await transfer('shard-out:1', 'pool', 'available:did:key:zShardA', 395);
    expect(await balance('pool')).toBe('5');
    expect(await balance('available:did:key:zShardA')).toBe('395');
    expect((await shards('pool')).every((r) => Number(r.b) >= 0)).toBe(true);
    await expect(transfer('shard-out:2', 'pool', 'available:did:key:zShardA', 6)).rejects.toThrow(
      /ledger_accounts_non_negative/,
    );
    await transfer('shard-out:3', 'pool', 'available:did:key:zShardA', 5);
    expect(await balance('pool')).toBe('0');
    expect(await shards('pool')).toEqual([]);
    expect(await ledgerProblems(db)).toEqual([]);
  });

  it('locks no system account in ledger_lock and returns its balance as the sum of its shards', async () => {
    await transfer('shard-in:x', 'treasury', 'broker', 7);
    const c1 = await db.connect();
    const c2 = await db.connect();
    try {
      await c1.query('BEGIN');
      await c2.query('BEGIN');
      const a = await c1.query(
        `SELECT account, balance_atomic::text AS b FROM ledger_lock(ARRAY['broker', 'treasury'])`,
      );
      // A second transaction is not blocked by the first one's ledger_lock of the same system accounts.
      await c2.query(`SET LOCAL lock_timeout = '2s'`);
      const b = await c2.query(`SELECT account, balance_atomic::text AS b FROM ledger_lock(ARRAY['broker'])`);
      expect(Object.fromEntries(a.rows.map((r) => [r.account, r.b]))).toMatchObject({ broker: '7' });
      expect(b.rows).toEqual([{ account: 'broker', b: '7' }]);
    } finally {
      await c1.query('ROLLBACK');
      await c2.query('ROLLBACK');
      c1.release();
      c2.release();
    }
  });

  it('shards an available balance: credits land on many shards, a debit takes from all of them', async () => {
    const acct = 'available:did:key:zShardP';
    for (let i = 0; i < 40; i++) await transfer(`pay:${i}`, 'treasury', acct, 5);
    expect((await shards(acct)).length).toBeGreaterThan(8);
    expect(await balance(acct)).toBe('200');
    await expect(transfer('pay-out:1', acct, 'treasury', 201)).rejects.toThrow(
      /ledger_accounts_non_negative/,
    );
    await transfer('pay-out:2', acct, 'escrow:did:key:zShardP', 200);
    expect(await balance(acct)).toBe('0');
    expect(await balance('escrow:did:key:zShardP')).toBe('200');
    expect(await ledgerProblems(db)).toEqual([]);
  });

  it('lets two credits of one available account on different shards proceed at once, and locks every shard of a debit', async () => {
    const acct = 'available:did:key:zShardQ';
    // Two transfer ids whose credits land on different shards of the account.
    const ids: string[] = [];
    const seen = new Set<number>();
    for (let i = 0; ids.length < 2 && i < 100; i++) {
      const { rows } = await db.query<{ s: number }>(`SELECT ledger_shard_of($1, $2) AS s`, [acct, `q:${i}`]);
      if (!seen.has(rows[0]!.s)) {
        seen.add(rows[0]!.s);
        ids.push(`q:${i}`);
      }
    }
    // Both shard rows exist (a credit of 1 on each).
    await transfer(`${ids[0]}`, 'treasury', acct, 1);
    await transfer(`${ids[1]}`, 'treasury', acct, 1);
    const c1 = await db.connect();
    const c2 = await db.connect();
    try {
      await c1.query('BEGIN');
      await c2.query('BEGIN');
      await c2.query(`SET LOCAL lock_timeout = '2s'`);
      const lock = (c: pg.PoolClient, id: string, debit: string, credit: string) =>
        c.query(`SELECT * FROM ledger_lock_transfers($1::text[], $2::text[], $3::text[])`, [
          [id],
          [debit],
          [credit],
        ]);
      await lock(c1, ids[0]!, 'treasury', acct);
      await lock(c2, ids[1]!, 'treasury', acct); // another shard: not blocked
      await c2.query('ROLLBACK');
      await c2.query('BEGIN');
      await c2.query(`SET LOCAL lock_timeout = '300ms'`);
      // A debit of the account needs every shard, the one c1 holds among them.
      await expect(lock(c2, 'q-out', acct, 'treasury')).rejects.toThrow(/lock timeout/);
    } finally {
      await c1.query('ROLLBACK');
      await c2.query('ROLLBACK');
      c1.release();
      c2.release();
    }
  });

  it('refuses a direct write through the ledger_accounts view', async () => {
    await expect(
      db.query(`UPDATE ledger_accounts SET balance_atomic = 1 WHERE account = 'pool'`),
    ).rejects.toThrow(/only through ledger_transfers/);
  });

  it('folds the shards back into one row on the way down, and shards again on the way up', async () => {
    const other = await createTestStack();
    const odb = new pg.Pool({ connectionString: other.databaseUrl, max: 2 });
    try {
      const files = await loadMigrations(path.resolve('migrations'));
      await migrateUp(odb, files);
      for (let i = 0; i < 20; i++)
        await odb.query(
          `INSERT INTO ledger_transfers (id, debit_account, credit_account, amount_atomic, kind) VALUES ($1, 'treasury', 'validators', 3, 'test')`,
          [`down:${i}`],
        );
      await migrateDown(odb, files, files.filter((f) => f.version >= 14).length); // to before 0014
      const rows = (
        await odb.query(
          `SELECT account, balance_atomic::text AS b FROM ledger_accounts WHERE account IN ('treasury', 'validators') ORDER BY 1`,
        )
      ).rows;
      expect(rows).toEqual([
        { account: 'treasury', b: '-60' },
        { account: 'validators', b: '60' },
      ]);
      expect(await ledgerProblems(odb)).toEqual([]);
      await migrateUp(odb, files);
      expect(
        (
          await odb.query(
            `SELECT balance_atomic::text AS b FROM ledger_accounts WHERE account = 'validators'`,
          )
        ).rows,
      ).toEqual([{ b: '60' }]);
      expect(await ledgerProblems(odb)).toEqual([]);
    } finally {
      await odb.end();
    }
  });
});
