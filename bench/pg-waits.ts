import type pg from 'pg';

export interface WaitTable {
  samples: number;
  /** Mean count per sample of the sessions in each state, most first. */
  rows: { what: string; mean: number }[];
  /**
   * The share of samples in which at least one session waited on a lock (wait_event_type Lock) in a
   * statement of the ledger (one that names ledger_lock, ledger_lock_transfers, ledger_transfers,
   * ledger_balances or ledger_accounts): issue 35's bar is at most 5 %.
   */
  ledger_lock_sample_share: number;
}

/**
 * Samples pg_stat_activity every `everyMs` while a load runs: what the broker's database sessions
 * that are not idle wait on (a row lock, the WAL flush of a commit, the client) or whether they are
 * on CPU, with the start of the statement. The mean count per sample of each shows where a write
 * path serializes (e.g. sessions waiting in ledger_lock for accounts every settlement shares).
 * stop() ends the sampling, prints the table and returns it.
 */
export function sampleWaits(db: pg.Pool, everyMs = 50) {
  const waits = new Map<string, number>();
  let samples = 0;
  let ledgerSamples = 0;
  const timer = setInterval(() => {
    void db
      .query<{ what: string; n: number; ledger: number }>(
        `SELECT coalesce(wait_event_type || ':' || wait_event, 'on CPU') || ' (' || state || ') ' || left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 90) AS what,
                count(*)::int AS n,
                count(*) FILTER (WHERE wait_event_type = 'Lock' AND query ~ 'ledger_(lock|transfers|balances|accounts)')::int AS ledger
           FROM pg_stat_activity
          WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND application_name <> 'psql'
            AND state <> 'idle'
          GROUP BY 1`,
      )
      .then(({ rows }) => {
        samples += 1;
        if (rows.some((r) => r.ledger > 0)) ledgerSamples += 1;
        for (const r of rows) waits.set(r.what, (waits.get(r.what) ?? 0) + r.n);
      })
      .catch(() => undefined);
  }, everyMs);
  return {
    stop(): WaitTable {
      clearInterval(timer);
      const table: WaitTable = {
        samples,
        rows: [...waits]
          .sort((a, b) => b[1] - a[1])
          .map(([what, n]) => ({ what, mean: Math.round((n / Math.max(samples, 1)) * 100) / 100 })),
        ledger_lock_sample_share: Math.round((ledgerSamples / Math.max(samples, 1)) * 1000) / 1000,
      };
      console.log(
        `\ndatabase sessions not idle, mean per sample over ${samples} samples of pg_stat_activity:`,
      );
      for (const r of table.rows) console.log(`${r.mean.toFixed(2).padStart(7)}  ${r.what}`);
      console.log(
        `samples with a session waiting on a lock in a ledger statement: ${(table.ledger_lock_sample_share * 100).toFixed(1)} %`,
      );
      return table;
    },
  };
}
