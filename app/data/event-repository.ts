import { iso, type Queryable } from './sql.js';

export interface NewEvent {
  type: string;
  recipients: string[];
  payload: Record<string, unknown>;
}

export interface StoredEvent extends NewEvent {
  /** The event's number in the stream (see numberEvents): what clients see and resume from. */
  id: string;
  event_id: string;
  created_at: string;
}

/**
 * Appends events inside the caller's transaction (the outbox), in one statement. The relays are
 * woken once it commits: withTransaction calls wakeRelays after its COMMIT (and not after a
 * rollback) when the transaction appended events; a write outside a transaction wakes them at once.
 */
export async function appendEvents(tx: Queryable, events: NewEvent[]): Promise<void> {
  if (!events.length) return;
  await tx.query(
    `INSERT INTO events (type, recipients, payload)
     SELECT e.type, ARRAY(SELECT jsonb_array_elements_text(e.recipients)), e.payload
       FROM jsonb_to_recordset($1::jsonb) AS e(type text, recipients jsonb, payload jsonb)`,
    [JSON.stringify(events.map((e) => ({ ...e, recipients: [...new Set(e.recipients)] })))],
  );
  eventsWritten(tx);
}

const inTransaction = new WeakSet<object>();
const wroteEvents = new WeakSet<object>();

/** withTransaction marks its client while the transaction is open. */
export function transactionOpened(client: object): void {
  inTransaction.add(client);
}

/** Ends the mark; true when the transaction appended events (then the caller wakes the relays). */
export function transactionClosed(client: object): boolean {
  inTransaction.delete(client);
  const wrote = wroteEvents.has(client);
  wroteEvents.delete(client);
  return wrote;
}

/**
 * Records that `db` wrote outbox events: inside a transaction of withTransaction, for its COMMIT to
 * wake the relays; otherwise (an autocommit statement) wakes them now.
 */
export function eventsWritten(db: Queryable): void {
  if (inTransaction.has(db)) wroteEvents.add(db);
  else wakeRelays(db);
}

const waking = new WeakMap<object, { again: boolean }>();

/**
 * NOTIFYs the relays (LISTEN, see EventNotifications) that events were committed; they then read
 * the outbox from their cursor, so one wake-up serves every commit before it. Issue 35: a NOTIFY
 * takes one database-wide lock from its transaction's commit until the transaction ends, so a NOTIFY
 * inside every write transaction made every commit wait for the previous one's WAL flush. It is
 * now a transaction of its own, after the writes commit, with synchronous_commit off (a wake-up
 * lost in a crash costs the relays' 1 s fallback poll, nothing else), and at most one is in flight
 * per pool: wake-ups asked for meanwhile are sent as one when it returns.
 */
export function wakeRelays(db: Queryable): void {
  const key = db as object;
  const state = waking.get(key);
  if (state) {
    state.again = true;
    return;
  }
  const mine = { again: false };
  waking.set(key, mine);
  void db
    .query(`SELECT set_config('synchronous_commit', 'off', true), pg_notify('${EVENTS_CHANNEL}', '')`)
    .catch(() => undefined)
    .finally(() => {
      waking.delete(key);
      if (mine.again) wakeRelays(db);
    });
}

export const EVENTS_CHANNEL = 'ainp_events';

type Row = Omit<StoredEvent, 'created_at'> & { created_at: Date };
const toEvent = (r: Row): StoredEvent => ({ ...r, created_at: iso(r.created_at)! });
/** An event as readers see it: `id` is its number in the stream (`seq`), not its insert id. */
const EVENT_COLUMNS = 'seq AS id, event_id, type, recipients, payload, created_at';

export const NUMBER_LOCK = 0x61696e6e; // "ainn": beside the publisher's "ainq" and the migration lock's "ainp"

/**
 * Numbers up to `limit` committed events that have no number yet, in insert-id order after the
 * highest number given (migration 0010); returns how many. One round trip: the advisory lock is
 * taken by the first statement and held to the end of the implicit transaction, and the UPDATE's
 * snapshot is taken after it (READ COMMITTED, the server's default, which the broker never
 * changes), so it sees every number the previous holder gave: numbers never repeat, and a batch
 * becomes visible whole, after every earlier one. Whoever has read every event up to number N (a
 * client's last_event_id, the relay's cursor) has therefore seen every event numbered N or below:
 * an insert that commits late gets a later number instead of one below a reader's cursor.
 *
 * - Should the lock ever be bypassed, a mistake fails loudly rather than renumbering: `e.seq IS
 *   NULL` is checked again on a row another transaction numbered meanwhile, and the unique index
 *   refuses two rows given one number.
 * - It also sets published_at, which this release no longer reads (publishing follows the cursor
 *   in event_stream), for the previous release during a rollout: that release publishes only
 *   events without it, and the row leaves its partial index instead of entering it again (the
 *   row is rewritten by the numbering anyway, so this costs nothing more).
 * - Bitmap scans are off for the statement: the unnumbered events are found through a partial
 *   index whose entries all die once numbered, and only a plain index scan marks dead entries so
 *   that later scans skip them. Measured with one event numbered and published at a time: a
 *   bitmap scan took 0.68 ms after 6,000 events and the per-event cost rose from 4.2 to 5.6 ms;
 *   with the index scan, 0.03 ms and a flat 4.0-4.2 ms.
 * - No parameters (the limit is a checked integer): only the simple protocol allows two
 *   statements in one query.
 */
export async function numberEvents(db: Queryable, limit: number): Promise<number> {
  if (!Number.isSafeInteger(limit) || limit <= 0) throw new Error(`invalid batch size ${limit}`);
  const results = (await db.query(
    `SELECT pg_advisory_xact_lock(${NUMBER_LOCK}), set_config('enable_bitmapscan', 'off', true);
     WITH next AS (
       SELECT id, row_number() OVER (ORDER BY id) AS n
         FROM (SELECT id FROM events WHERE seq IS NULL ORDER BY id LIMIT ${limit}) unnumbered
     )
     UPDATE events e SET seq = (SELECT coalesce(max(seq), 0) FROM events) + next.n,
                         published_at = coalesce(e.published_at, now())
       FROM next WHERE e.id = next.id AND e.seq IS NULL`,
  )) as unknown as Array<{ rowCount: number | null }>;
  return results[1]!.rowCount ?? 0;
}

/**
 * Numbered events not yet published, in number order: those after the stream's cursor
 * (event_stream.published_upto, migration 0011). Call under the publisher lock: one publisher at
 * a time, so the cursor moves in order.
 */
export async function claimUnpublished(tx: Queryable, limit: number): Promise<StoredEvent[]> {
  const { rows } = await tx.query<Row>(
    `SELECT ${EVENT_COLUMNS} FROM events
      WHERE seq > (SELECT published_upto FROM event_stream) ORDER BY seq LIMIT $1`,
    [limit],
  );
  return rows.map(toEvent);
}

/** Every event numbered up to `upTo` (a StoredEvent.id) is published: the cursor moves there. */
export async function markPublished(tx: Queryable, upTo: string): Promise<void> {
  await tx.query(`UPDATE event_stream SET published_upto = $1 WHERE published_upto < $1`, [upTo]);
}

/** Events numbered after `afterId`, in stream order (the degraded path: delivery from the database). */
export async function eventsAfter(db: Queryable, afterId: string, limit: number): Promise<StoredEvent[]> {
  const { rows } = await db.query<Row>(
    `SELECT ${EVENT_COLUMNS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2`,
    [afterId, limit],
  );
  return rows.map(toEvent);
}

/** Events for any of `identities` numbered after `afterId`, in stream order (resume after a reconnect). */
export async function eventsSince(
  db: Queryable,
  identities: string[],
  afterId: string,
  limit: number,
): Promise<StoredEvent[]> {
  const { rows } = await db.query<Row>(
    `SELECT ${EVENT_COLUMNS} FROM events
      WHERE recipients && $1::text[] AND seq > $2 ORDER BY seq LIMIT $3`,
    [identities, afterId, limit],
  );
  return rows.map(toEvent);
}

/** The highest event number given ('0' when there is none): where delivery from the database starts. */
export async function latestEventId(db: Queryable): Promise<string> {
  const { rows } = await db.query<{ max: string | null }>('SELECT max(seq)::text AS max FROM events');
  return rows[0]?.max ?? '0';
}

export const PUBLISH_LOCK = 0x61696e71; // "ainq": next to the migration lock's "ainp"

/**
 * Takes the publisher lock for the caller's transaction, if no other replica holds it: one
 * publisher at a time, so the stream (and every socket) sees events in number order.
 */
export async function tryPublisherLock(tx: Queryable): Promise<boolean> {
  const { rows } = await tx.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [
    PUBLISH_LOCK,
  ]);
  return rows[0]!.ok;
}

/** Outbox events not yet published to JetStream (the ainp_outbox_backlog gauge): numbered or not. */
export async function outboxBacklog(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    `SELECT coalesce((SELECT max(seq) FROM events), 0) - (SELECT published_upto FROM event_stream)
          + (SELECT count(*) FROM events WHERE seq IS NULL) AS n`,
  );
  return Math.max(0, Number(rows[0]!.n));
}

/** DIDs of the agents a wallet address owns: an API-key connection receives their events. */
export async function ownedAgentDids(db: Queryable, address: string): Promise<string[]> {
  const { rows } = await db.query<{ did: string }>(
    `SELECT did FROM agents WHERE owner_address = $1 AND did IS NOT NULL`,
    [address],
  );
  return rows.map((r) => r.did);
}
