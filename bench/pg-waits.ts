import type pg from 'pg';

/**
 * Samples pg_stat_activity every `everyMs` while a load runs: what the broker's database sessions
 * that are not idle wait on (a row lock, the WAL flush of a commit, the client) or whether they are
 * on CPU, with the start of the statement. The mean count per sample of each shows where a write
 * path serializes (e.g. sessions waiting in ledger_lock for accounts every settlement shares).
 * stop() ends the sampling and prints the table.
 */
export function sampleWaits(db: pg.Pool, everyMs = 50) {
  const waits = new Map<string, number>();
  let samples = 0;
  const timer = setInterval(() => {
    void db
      .query<{ what: string; n: number }>(
        `SELECT coalesce(wait_event_type || ':' || wait_event, 'on CPU') || ' (' || state || ') ' || left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 90) AS what,
                count(*)::int AS n
           FROM pg_stat_activity
          WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND application_name <> 'psql'
            AND state <> 'idle'
          GROUP BY 1`,
      )
      .then(({ rows }) => {
        samples += 1;
        for (const r of rows) waits.set(r.what, (waits.get(r.what) ?? 0) + r.n);
      })
      .catch(() => undefined);
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      console.log(
        `\ndatabase sessions not idle, mean per sample over ${samples} samples of pg_stat_activity:`,
      );
      for (const [what, n] of [...waits].sort((a, b) => b[1] - a[1]))
        console.log(`${(n / Math.max(samples, 1)).toFixed(2).padStart(7)}  ${what}`);
    },
  };
}
