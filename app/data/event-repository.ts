import { iso, type Queryable } from './sql.js';

export interface NewEvent {
  type: string;
  recipients: string[];
  payload: Record<string, unknown>;
}

export interface StoredEvent extends NewEvent {
  id: string;
  event_id: string;
  created_at: string;
}

/** Appends events inside the caller's transaction (the outbox). */
export async function appendEvents(tx: Queryable, events: NewEvent[]): Promise<void> {
  if (!events.length) return;
  // NOTIFY is delivered at commit (and dropped on rollback): relays wake up at once. Sent by the
  // same statement as the insert: one round trip.
  await tx.query(
    `WITH ev AS (
       INSERT INTO events (type, recipients, payload)
       SELECT e.type, ARRAY(SELECT jsonb_array_elements_text(e.recipients)), e.payload
         FROM jsonb_to_recordset($1::jsonb) AS e(type text, recipients jsonb, payload jsonb)
       RETURNING 1
     )
     SELECT pg_notify('${EVENTS_CHANNEL}', '') WHERE EXISTS (SELECT 1 FROM ev)`,
    [JSON.stringify(events.map((e) => ({ ...e, recipients: [...new Set(e.recipients)] })))],
  );
}

export const EVENTS_CHANNEL = 'ainp_events';

type Row = Omit<StoredEvent, 'created_at'> & { created_at: Date };
const toEvent = (r: Row): StoredEvent => ({ ...r, created_at: iso(r.created_at)! });

/** Unpublished events in id order, locked so two publishers never send the same batch at once. */
export async function claimUnpublished(tx: Queryable, limit: number): Promise<StoredEvent[]> {
  const { rows } = await tx.query<Row>(
    `SELECT id, event_id, type, recipients, payload, created_at FROM events
      WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
    [limit],
  );
  return rows.map(toEvent);
}

export async function markPublished(tx: Queryable, ids: string[]): Promise<void> {
  await tx.query(`UPDATE events SET published_at = now() WHERE id = ANY($1::bigint[])`, [ids]);
}

/** Unpublished events after `afterId` (the degraded path: delivery from the database). */
export async function unpublishedAfter(
  db: Queryable,
  afterId: string,
  limit: number,
): Promise<StoredEvent[]> {
  const { rows } = await db.query<Row>(
    `SELECT id, event_id, type, recipients, payload, created_at FROM events
      WHERE published_at IS NULL AND id > $1 ORDER BY id LIMIT $2`,
    [afterId, limit],
  );
  return rows.map(toEvent);
}

/** Events for any of `identities` after `afterId`, oldest first (resume after a reconnect). */
export async function eventsSince(
  db: Queryable,
  identities: string[],
  afterId: string,
  limit: number,
): Promise<StoredEvent[]> {
  const { rows } = await db.query<Row>(
    `SELECT id, event_id, type, recipients, payload, created_at FROM events
      WHERE recipients && $1::text[] AND id > $2 ORDER BY id LIMIT $3`,
    [identities, afterId, limit],
  );
  return rows.map(toEvent);
}

/** The newest event id ('0' when there is none): where delivery from the database starts. */
export async function latestEventId(db: Queryable): Promise<string> {
  const { rows } = await db.query<{ max: string | null }>('SELECT max(id)::text AS max FROM events');
  return rows[0]?.max ?? '0';
}

const PUBLISH_LOCK = 0x61696e71; // "ainq": next to the migration lock's "ainp"

/**
 * Takes the publisher lock for the caller's transaction, if no other replica holds it: one
 * publisher at a time, so the stream (and every socket) sees events in id order.
 */
export async function tryPublisherLock(tx: Queryable): Promise<boolean> {
  const { rows } = await tx.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [
    PUBLISH_LOCK,
  ]);
  return rows[0]!.ok;
}

/** Outbox events not yet published to JetStream (the ainp_outbox_backlog gauge). */
export async function outboxBacklog(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    `SELECT count(*) AS n FROM events WHERE published_at IS NULL`,
  );
  return Number(rows[0]!.n);
}

/** DIDs of the agents a wallet address owns: an API-key connection receives their events. */
export async function ownedAgentDids(db: Queryable, address: string): Promise<string[]> {
  const { rows } = await db.query<{ did: string }>(
    `SELECT did FROM agents WHERE owner_address = $1 AND did IS NOT NULL`,
    [address],
  );
  return rows.map((r) => r.did);
}
