import type pg from 'pg';

/** A sample of `/metrics` (the first line that starts with `series`), or 0 when absent. */
export async function metricValue(baseUrl: string, series: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/** The batches written so far for `op` and the writes in them (`ainp_write_batch_size{op}`). */
export async function batchSizes(baseUrl: string, op: string) {
  return {
    writes: await metricValue(baseUrl, `ainp_write_batch_size_sum{op="${op}"}`),
    batches: await metricValue(baseUrl, `ainp_write_batch_size_count{op="${op}"}`),
  };
}

/** Polls `read` every 20 ms until it gives `n`; fails after 10 s naming what it saw. */
async function until(what: string, n: number, read: () => Promise<number>) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const seen = await read();
    if (seen === n) return;
    if (Date.now() > deadline) throw new Error(`${seen} ${what}, not ${n}, after 10 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Holds `table` in SHARE mode (inserts wait) until the returned release is called, so that writes
 * sent meanwhile queue in the broker's group commit. `waitBlocked(n)` returns once `n` database
 * sessions wait for the table (the batches in flight), `waitQueued(n)` once `n` writes wait in the
 * broker for a batch.
 */
export async function holdInserts(db: pg.Pool, table: string, baseUrl: string, op: string) {
  const holder = await db.connect();
  await holder.query('BEGIN');
  await holder.query(`LOCK TABLE ${table} IN SHARE MODE`);
  return {
    waitBlocked: (n: number) =>
      until(`sessions waiting for ${table}`, n, async () => {
        const { rows } = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND relation = $1::regclass`,
          [table],
        );
        return rows[0]!.n;
      }),
    waitQueued: (n: number) =>
      until(`${op} writes queued`, n, () => metricValue(baseUrl, `ainp_write_batch_queued{op="${op}"}`)),
    async release() {
      await holder.query('COMMIT');
      holder.release();
    },
  };
}
