import type { Queryable } from './sql.js';

/** Expired keys swept per statement: bounded, so no write waits on a large delete. */
const SWEEP = 200;

/**
 * Records replay keys (64 hex characters each) in one statement and says, for each, whether it is
 * new: true for the first occurrence of a key not recorded before, false for a key already there or
 * repeated earlier in the same batch. The same statement forgets up to 200 expired keys (skipping
 * rows another session is sweeping), so the table holds about one window of keys without a job.
 *
 * The statement commits asynchronously (no WAL flush of its own). That is safe for what it
 * guards: the write a key authorizes runs after it and commits synchronously, and the WAL is
 * flushed in order, so no durable write can have a replay key that a crash lost. Keys are checked
 * hex strings, and a simple query (one round trip for the setting and the insert) takes no
 * parameters.
 */
export async function recordReplayKeys(
  db: Queryable,
  keys: string[],
  ttlSeconds: number,
): Promise<boolean[]> {
  if (!keys.length) return [];
  for (const k of keys) if (!/^[0-9a-f]{64}$/.test(k)) throw new Error('a replay key is 64 hex characters');
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) throw new Error(`invalid ttl ${ttlSeconds}`);
  // Sorted and distinct: two batches sharing keys insert them in the same order (no deadlock).
  const distinct = [...new Set(keys)].sort();
  const values = distinct.map((k) => `('\\x${k}'::bytea)`).join(', ');
  const results = (await db.query(
    `SELECT set_config('synchronous_commit', 'off', true);
     WITH swept AS (
       DELETE FROM replay_keys WHERE key IN (
         SELECT key FROM replay_keys WHERE expires_at < now()
         ORDER BY expires_at LIMIT ${SWEEP} FOR UPDATE SKIP LOCKED)
     )
     INSERT INTO replay_keys (key, expires_at)
       SELECT k, now() + make_interval(secs => ${ttlSeconds}) FROM (VALUES ${values}) AS v (k)
       ON CONFLICT (key) DO NOTHING
       RETURNING encode(key, 'hex') AS key`,
  )) as unknown as Array<{ rows: Array<{ key: string }> }>;
  const fresh = new Set(results[1]!.rows.map((r) => r.key));
  // The first occurrence of a new key takes it; a repeat in the same batch is a replay.
  return keys.map((k) => fresh.delete(k));
}
