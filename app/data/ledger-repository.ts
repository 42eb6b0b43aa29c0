import {
  available,
  escrow,
  firstOverdraft,
  stake,
  SYSTEM_ACCOUNTS,
  type SystemAccount,
  type Transfer,
} from '../domain/ledger.js';
import { AppError } from '../errors.js';
import { eventsWritten, type NewEvent } from './event-repository.js';
import type pg from 'pg';
import { queryThenCommit } from './db.js';
import { iso, type Queryable } from './sql.js';

/** Transfers as the six parallel arrays ($1..$6) the statements below unnest, in this order. */
const transferArrays = (list: readonly Transfer[]) => [
  list.map((t) => t.id),
  list.map((t) => t.debit),
  list.map((t) => t.credit),
  list.map((t) => t.amount.toString()),
  list.map((t) => t.kind),
  list.map((t) => t.reference),
];

/**
 * Applies transfers inside the caller's transaction. The balance rows they touch (every shard of a
 * debited account, the one shard a credit lands on: migration 0014) are created when new and locked
 * in one order (no deadlock between two movers of the same accounts); a transfer that
 * would overdraw an account is refused with 409 INSUFFICIENT_FUNDS before anything is written, and
 * the database refuses it too (a CHECK on the balance, kept by the trigger that applies each row).
 * A transfer whose id is already in the ledger is skipped: the returned ids are those applied.
 */
export async function applyTransfers(tx: Queryable, transfers: readonly Transfer[]): Promise<string[]> {
  const list = transfers.filter((t) => t.amount > 0n);
  if (!list.length) return [];
  const locked = await tx.query<{ account: string; balance: string }>(
    `SELECT account, balance_atomic::text AS balance FROM ledger_lock_transfers($1::text[], $2::text[], $3::text[])`,
    [list.map((t) => t.id), list.map((t) => t.debit), list.map((t) => t.credit)],
  );
  const overdraft = firstOverdraft(new Map(locked.rows.map((r) => [r.account, BigInt(r.balance)])), list);
  if (overdraft) throw insufficientFunds(overdraft.account, overdraft.balance, overdraft.needed);
  try {
    const { rows } = await tx.query<{ id: string }>(
      `INSERT INTO ledger_transfers (id, debit_account, credit_account, amount_atomic, kind, reference)
       SELECT id, d, c, a, k, r FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::text[], $6::text[])
              WITH ORDINALITY AS t (id, d, c, a, k, r, n)
        ORDER BY n
       ON CONFLICT (id) DO NOTHING RETURNING id`,
      transferArrays(list),
    );
    return rows.map((r) => r.id);
  } catch (err) {
    const e = err as { code?: string; constraint?: string };
    if (e.code === '23514' && e.constraint === 'ledger_accounts_non_negative')
      throw new AppError(409, 'INSUFFICIENT_FUNDS', 'The transfer would overdraw an account');
    throw err;
  }
}

/**
 * Locks the balance rows the transfers touch (as applyTransfers locks them: each credit only on the
 * shard its transfer id picks, see migration 0014), inserts the transfers (one already in the
 * ledger is skipped) and appends the events, in one statement. The CHECK on every balance still
 * refuses an overdraft. Returns how many transfers were applied.
 */
const TRANSFERS_WITH_EVENTS = `WITH l AS (SELECT account FROM ledger_lock_transfers($1::text[], $2::text[], $3::text[])),
       t AS (
         INSERT INTO ledger_transfers (id, debit_account, credit_account, amount_atomic, kind, reference)
         SELECT id, d, c, a, k, r FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::text[], $6::text[])
                WITH ORDINALITY AS t (id, d, c, a, k, r, n)
          WHERE (SELECT count(*) FROM l) >= 0
          ORDER BY n
         ON CONFLICT (id) DO NOTHING RETURNING 1
       ), ev AS (
         INSERT INTO events (type, recipients, payload)
         SELECT e.type, ARRAY(SELECT jsonb_array_elements_text(e.recipients)), e.payload
           FROM jsonb_to_recordset($7::jsonb) AS e(type text, recipients jsonb, payload jsonb)
          WHERE (SELECT count(*) FROM t) >= 0
         RETURNING 1
       )
       SELECT (SELECT count(*) FROM t) AS applied, (SELECT count(*) FROM ev) AS events`;

const transfersWithEvents = (list: readonly Transfer[], events: NewEvent[]) => [
  ...transferArrays(list),
  JSON.stringify(events.map((e) => ({ ...e, recipients: [...new Set(e.recipients)] }))),
];

/** The CHECK that refused an overdraft, as the API answers it; any other error as it is. */
function overdraftAs409(err: unknown): never {
  const e = err as { code?: string; constraint?: string };
  if (e.code === '23514' && e.constraint === 'ledger_accounts_non_negative')
    throw new AppError(409, 'INSUFFICIENT_FUNDS', 'The transfer would overdraw an account');
  throw err;
}

/**
 * applyTransfers and appendEvents in one statement (TRANSFERS_WITH_EVENTS), so one round trip
 * (where they took three), for a caller whose transfers cannot overdraw but through a bug (a
 * settlement pays out of an escrow that holds the budget). The rows are thus locked by the caller's
 * last statement, and held only until its COMMIT, which is sent with it (queryThenCommit: this
 * statement ends the caller's transaction).
 */
export async function applyTransfersWithEvents(
  tx: pg.PoolClient,
  transfers: readonly Transfer[],
  events: NewEvent[],
): Promise<void> {
  const list = transfers.filter((t) => t.amount > 0n);
  try {
    await queryThenCommit(tx, TRANSFERS_WITH_EVENTS, transfersWithEvents(list, events));
    if (events.length) eventsWritten(tx);
  } catch (err) {
    return overdraftAs409(err);
  }
}

/**
 * Transfers that are a transaction by themselves (a deposit: treasury may go negative, so nothing
 * is read first): TRANSFERS_WITH_EVENTS with no events as one autocommit statement, so one round
 * trip, prepared, with no BEGIN or COMMIT to send, and the rows locked only for the statement and
 * its commit. Returns how many transfers were applied (0: already in the ledger).
 */
export async function applyTransfersAlone(db: Queryable, transfers: readonly Transfer[]): Promise<number> {
  const list = transfers.filter((t) => t.amount > 0n);
  if (!list.length) return 0;
  try {
    const { rows } = await db.query<{ applied: string }>(
      TRANSFERS_WITH_EVENTS,
      transfersWithEvents(list, []),
    );
    return Number(rows[0]!.applied);
  } catch (err) {
    return overdraftAs409(err);
  }
}

export function insufficientFunds(account: string, balance: bigint, needed: bigint): AppError {
  return new AppError(
    409,
    'INSUFFICIENT_FUNDS',
    `${account} holds ${balance} atomic units; ${needed} are needed`,
    undefined,
    { account, balance_atomic: balance.toString(), needed_atomic: needed.toString() },
  );
}

export interface TransferRecord {
  id: string;
  kind: string;
  debit_account: string;
  credit_account: string;
  amount_atomic: string;
  reference: string | null;
  created_at: string;
}

const TRANSFER_COLUMNS = `id, kind, debit_account, credit_account, amount_atomic::text AS amount_atomic, reference, created_at`;
const toTransfer = (r: Omit<TransferRecord, 'created_at'> & { created_at: Date }): TransferRecord => ({
  ...r,
  created_at: iso(r.created_at)!,
});

export async function findTransfer(db: Queryable, id: string): Promise<TransferRecord | undefined> {
  const { rows } = await db.query(`SELECT ${TRANSFER_COLUMNS} FROM ledger_transfers WHERE id = $1`, [id]);
  return rows[0] && toTransfer(rows[0]);
}

/** The balances of a DID's three accounts (0 for an account never used). */
export async function balancesOf(db: Queryable, did: string) {
  const names = [available(did), escrow(did), stake(did)];
  const { rows } = await db.query<{ account: string; balance: string }>(
    `SELECT account, balance_atomic::text AS balance FROM ledger_accounts WHERE account = ANY($1::text[])`,
    [names],
  );
  const of = (name: string) => rows.find((r) => r.account === name)?.balance ?? '0';
  return { available: of(names[0]!), escrow: of(names[1]!), stake: of(names[2]!) };
}

/** The system accounts' balances (each the sum of its shards; 0 for one never used). */
export async function systemBalances(db: Queryable): Promise<Record<SystemAccount, string>> {
  const { rows } = await db.query<{ account: SystemAccount; balance: string }>(
    `SELECT account, balance_atomic::text AS balance FROM ledger_accounts WHERE account = ANY($1::text[])`,
    [SYSTEM_ACCOUNTS],
  );
  const of = (name: SystemAccount) => rows.find((r) => r.account === name)?.balance ?? '0';
  return Object.fromEntries(SYSTEM_ACCOUNTS.map((a) => [a, of(a)])) as Record<SystemAccount, string>;
}

/** A page of the transfers into or out of a DID's accounts, newest first. */
export async function transfersOf(db: Queryable, did: string, limit: number, offset: number) {
  const names = [available(did), escrow(did), stake(did)];
  const where = `debit_account = ANY($1::text[]) OR credit_account = ANY($1::text[])`;
  const [page, count] = await Promise.all([
    db.query(
      `SELECT ${TRANSFER_COLUMNS} FROM ledger_transfers WHERE ${where} ORDER BY seq DESC LIMIT $2 OFFSET $3`,
      [names, limit, offset],
    ),
    db.query<{ n: string }>(`SELECT count(*) AS n FROM ledger_transfers WHERE ${where}`, [names]),
  ]);
  return { transfers: page.rows.map(toTransfer), total: Number(count.rows[0]!.n) };
}

/** The sum of all balances (0 when the books balance) and the accounts below zero other than treasury. */
export async function ledgerHealth(db: Queryable): Promise<{ imbalance: bigint; negative: number }> {
  const { rows } = await db.query<{ sum: string; negative: number }>(
    `SELECT coalesce(sum(balance_atomic), 0)::text AS sum,
            count(*) FILTER (WHERE balance_atomic < 0 AND kind <> 'treasury')::int AS negative
       FROM ledger_accounts`,
  );
  return { imbalance: BigInt(rows[0]!.sum), negative: rows[0]!.negative };
}
