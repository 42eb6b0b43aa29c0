import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { withTransaction } from '../app/data/db.js';
import { EventNotifications } from '../app/data/event-notifications.js';
import { appendEvents, NUMBER_LOCK, numberEvents } from '../app/data/event-repository.js';
import { createTestStack, type TestStack } from './helpers/stack.js';

describe('appendEvents', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await createTestStack();
    // The schema (migrations on start), then no broker: nothing else NOTIFYs on this database.
    await (await stack.broker()).stop();
  }, 60_000);

  it('writes the events and wakes the relays at commit, in one statement; a rollback writes and wakes nothing', async () => {
    let notified = 0;
    const listener = new EventNotifications(stack.databaseUrl, () => (notified += 1));
    listener.start();
    try {
      // LISTEN is in place once a NOTIFY sent now arrives.
      await expect
        .poll(async () => {
          await stack.db.query(`NOTIFY ainp_events`);
          return notified;
        })
        .toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 200));
      notified = 0;
      const type = `test.${Date.now()}`;
      const count = async () =>
        Number((await stack.db.query(`SELECT count(*) AS n FROM events WHERE type = $1`, [type])).rows[0].n);

      await withTransaction(stack.db, async (tx) => {
        // Counts the statements appendEvents sends (the client goes back to the pool unwrapped).
        const query = tx.query;
        let statements = 0;
        tx.query = ((...args: Parameters<typeof query>) => {
          statements += 1;
          return (query as (...a: unknown[]) => unknown).apply(tx, args);
        }) as typeof tx.query;
        try {
          await appendEvents(tx, [
            { type, recipients: ['did:key:a', 'did:key:a'], payload: { n: 1 } },
            { type, recipients: [], payload: { n: 2 } },
          ]);
        } finally {
          tx.query = query;
        }
        expect(statements).toBe(1);
        await new Promise((r) => setTimeout(r, 200));
        expect(notified).toBe(0); // delivered at commit, not before
      });
      await expect.poll(() => notified).toBe(1);
      expect(await count()).toBe(2);
      const rows = await stack.db.query(`SELECT recipients FROM events WHERE type = $1 ORDER BY id`, [type]);
      expect(rows.rows.map((r) => r.recipients)).toEqual([['did:key:a'], []]);

      await expect(
        withTransaction(stack.db, async (tx) => {
          await appendEvents(tx, [{ type, recipients: [], payload: {} }]);
          throw new Error('rolled back');
        }),
      ).rejects.toThrow('rolled back');
      await appendEvents(stack.db, []); // nothing to write: no statement, no wake-up
      await new Promise((r) => setTimeout(r, 300));
      expect(notified).toBe(1);
      expect(await count()).toBe(2);
    } finally {
      await listener.close();
    }
  });

  it('numbers each committed event once, in insert order after the last number, never an open one', async () => {
    const type = `test.numbers.${Date.now()}`;
    const numbers = async () =>
      (
        await stack.db.query<{ id: string; seq: string | null }>(
          `SELECT id::text, seq::text FROM events WHERE type = $1 ORDER BY events.id`,
          [type],
        )
      ).rows;
    // Whatever earlier tests left, numbered first: this test counts only its own events.
    while ((await numberEvents(stack.db, 1000)) > 0);
    const open = await stack.db.connect();
    try {
      await open.query('BEGIN');
      await appendEvents(open, [{ type, recipients: [], payload: { open: true } }]);
      await appendEvents(
        stack.db,
        Array.from({ length: 30 }, (_, n) => ({ type, recipients: [], payload: { n } })),
      );
      const before = BigInt(
        (await stack.db.query(`SELECT coalesce(max(seq), 0)::text AS m FROM events`)).rows[0].m,
      );
      // Four numberers started together while the lock is held elsewhere, ten events each at most:
      // once it is released they take turns, each seeing what the previous one numbered.
      const holder = new pg.Client({ connectionString: stack.databaseUrl });
      const numberers = new pg.Pool({ connectionString: stack.databaseUrl, max: 4 });
      await holder.connect();
      try {
        await holder.query('SELECT pg_advisory_lock($1)', [NUMBER_LOCK]);
        const running = [1, 2, 3, 4].map(() => numberEvents(numberers, 10));
        await expect
          .poll(async () => {
            const { rows } = await stack.db.query(
              `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted`,
              [NUMBER_LOCK],
            );
            return rows[0].n;
          })
          .toBe(4);
        await holder.query('SELECT pg_advisory_unlock($1)', [NUMBER_LOCK]);
        const counts = await Promise.all(running);
        expect(counts.sort()).toEqual([0, 10, 10, 10]);
      } finally {
        await holder.end();
        await numberers.end();
      }
      expect((await numbers()).map((r) => BigInt(r.seq!) - before)).toEqual(
        Array.from({ length: 30 }, (_, i) => BigInt(i + 1)),
      );
      // The open event took the lowest insert id; committed now, it gets the next number.
      await open.query('COMMIT');
      const [first] = await numbers();
      expect(first!.seq).toBeNull();
      expect(await numberEvents(stack.db, 10)).toBe(1);
      expect((await numbers())[0]).toEqual({ id: first!.id, seq: String(before + 31n) });
      expect(await numberEvents(stack.db, 10)).toBe(0);
    } finally {
      open.release();
    }
  });
});
