import { iso, type Queryable } from './sql.js';

export interface LedgerEntry {
  account: 'agent' | 'broker' | 'validators' | 'pool';
  did: string | null;
  kind: string;
  amount_atomic: string;
  task_id: string | null;
  window_start?: Date | null;
}

export async function insertLedgerEntries(tx: Queryable, entries: LedgerEntry[]): Promise<void> {
  if (!entries.length) return;
  await tx.query(
    `INSERT INTO credit_ledger (account, did, kind, amount_atomic, task_id, window_start)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::uuid[], $6::timestamptz[])`,
    [
      entries.map((e) => e.account),
      entries.map((e) => e.did),
      entries.map((e) => e.kind),
      entries.map((e) => e.amount_atomic),
      entries.map((e) => e.task_id),
      entries.map((e) => e.window_start ?? null),
    ],
  );
}

export async function creditsOf(db: Queryable, did: string, limit: number, offset: number) {
  const [balance, ledger] = await Promise.all([
    db.query<{ balance: string; n: string }>(
      `SELECT coalesce(sum(amount_atomic), 0)::text AS balance, count(*) AS n FROM credit_ledger WHERE did = $1`,
      [did],
    ),
    db.query<{
      id: string;
      kind: string;
      amount_atomic: string;
      task_id: string | null;
      window_start: Date | null;
      created_at: Date;
    }>(
      `SELECT id, kind, amount_atomic::text AS amount_atomic, task_id, window_start, created_at FROM credit_ledger
        WHERE did = $1 ORDER BY id DESC LIMIT $2 OFFSET $3`,
      [did, limit, offset],
    ),
  ]);
  return {
    did,
    balance_atomic: balance.rows[0]!.balance,
    ledger: ledger.rows.map((r) => ({
      ...r,
      window_start: iso(r.window_start),
      created_at: iso(r.created_at)!,
    })),
    total: Number(balance.rows[0]!.n),
    limit,
    offset,
  };
}
