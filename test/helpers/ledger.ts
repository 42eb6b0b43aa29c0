import type pg from 'pg';

/**
 * SPEC section 9: the ledger balances after every test. Checks the books of one database: the sum
 * of every balance is 0, no account but treasury is below zero, and every balance equals what its
 * transfers add up to (each transfer applied exactly once). Returns the problems found (none: []).
 * A database whose migrations never reached the ledger has nothing to check.
 */
export async function ledgerProblems(db: Pick<pg.Pool, 'query'>): Promise<string[]> {
  const exists = await db.query(`SELECT to_regclass('ledger_accounts') IS NOT NULL AS ok`);
  if (!exists.rows[0].ok) return [];
  const problems: string[] = [];
  const { rows } = await db.query<{ sum: string; negative: string[] }>(
    `SELECT coalesce(sum(balance_atomic), 0)::text AS sum,
            coalesce(array_agg(account || '=' || balance_atomic) FILTER (WHERE balance_atomic < 0 AND kind <> 'treasury'), '{}') AS negative
       FROM ledger_accounts`,
  );
  if (rows[0]!.sum !== '0') problems.push(`the balances sum to ${rows[0]!.sum}, not 0`);
  if (rows[0]!.negative.length) problems.push(`negative accounts: ${rows[0]!.negative.join(', ')}`);
  const drift = await db.query<{ account: string; balance: string; from_transfers: string }>(
    `SELECT a.account, a.balance_atomic::text AS balance,
            (coalesce(c.s, 0) - coalesce(d.s, 0))::text AS from_transfers
       FROM ledger_accounts a
       LEFT JOIN (SELECT credit_account, sum(amount_atomic) s FROM ledger_transfers GROUP BY 1) c ON c.credit_account = a.account
       LEFT JOIN (SELECT debit_account, sum(amount_atomic) s FROM ledger_transfers GROUP BY 1) d ON d.debit_account = a.account
      WHERE a.balance_atomic <> coalesce(c.s, 0) - coalesce(d.s, 0)
      LIMIT 10`,
  );
  for (const r of drift.rows)
    problems.push(`${r.account} holds ${r.balance} but its transfers add up to ${r.from_transfers}`);
  return problems;
}
