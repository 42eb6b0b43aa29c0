import type { NegotiationState, Party } from '../domain/negotiation.js';
import type { Transfer } from '../domain/ledger.js';
import { iso, type Queryable } from './sql.js';
import type { IntentInput } from '../schemas/pou.js';

export interface IntentRecord {
  id: string;
  client_did: string;
  intent_type: string;
  description: string;
  budget_atomic: string;
  sla_ms: number | null;
  inputs_ref: string | null;
  status: IntentStatus;
  /** false for an intent opened before escrow existed: settling it takes the price from available. */
  escrowed: boolean;
  expires_at: string | null;
  created_at: string;
}

export type IntentStatus = 'open' | 'settled' | 'expired' | 'cancelled';

export interface Offer {
  by: Party;
  price_atomic: string;
  eta_ms: number;
  at: string;
}

export interface NegotiationRecord {
  id: string;
  intent_id: string;
  client_did: string;
  agent_did: string;
  state: NegotiationState;
  price_atomic: string;
  eta_ms: number;
  last_offer_by: Party;
  offers: Offer[];
  expires_at: string;
  created_at: string;
  updated_at: string;
}

const INTENT_COLUMNS = `id, client_did, intent_type, description, budget_atomic::text AS budget_atomic, sla_ms, inputs_ref, status,
  escrowed, expires_at, created_at`;
const NEG_COLUMNS = `id, intent_id, client_did, agent_did, state, price_atomic::text AS price_atomic, eta_ms, last_offer_by,
  offers, expires_at, created_at, updated_at`;

type Dated<T, K extends keyof T> = Omit<T, K> & { [P in K]: Date };
const toIntent = (
  r: Omit<Dated<IntentRecord, 'created_at'>, 'expires_at'> & { expires_at: Date | null },
): IntentRecord => ({
  ...r,
  expires_at: iso(r.expires_at),
  created_at: iso(r.created_at)!,
});
const toNegotiation = (
  r: Dated<NegotiationRecord, 'expires_at' | 'created_at' | 'updated_at'>,
): NegotiationRecord => ({
  ...r,
  expires_at: iso(r.expires_at)!,
  created_at: iso(r.created_at)!,
  updated_at: iso(r.updated_at)!,
});

/**
 * Opens intent `escrow.reference` and moves its budget into escrow (`escrow`, built by
 * escrowTransfer) in one statement, so one round trip and one commit, where a transaction around the
 * insert and applyTransfers took five. The two accounts are locked first, in ledger_lock's order (as
 * every transfer locks them), and the intent is inserted only if the locked debit balance covers the
 * budget; the transfer row's trigger then moves the balances (a zero budget moves nothing, as in
 * applyTransfers). Returns the intent, or the balance read under the lock when it falls short: then
 * no intent and no transfer is written (ledger_lock may have created the two accounts, at 0, as it
 * does for any first transfer of a DID).
 */
export async function insertEscrowedIntent(
  db: Queryable,
  i: IntentInput & { client_did: string; ttlMinutes: number },
  escrow: Transfer,
): Promise<{ intent: IntentRecord } | { shortOf: bigint }> {
  const { rows } = await db.query(
    `WITH l AS (SELECT account, balance_atomic FROM ledger_lock(ARRAY[$9::text, $10::text])),
     i AS (
       INSERT INTO intents (id, client_did, intent_type, description, budget_atomic, sla_ms, inputs_ref, escrowed, expires_at)
       SELECT $1, $2, $3, $4, $5, $6, $7, true, now() + make_interval(mins => $8)
        WHERE (SELECT balance_atomic FROM l WHERE account = $9) >= $11::numeric
       RETURNING ${INTENT_COLUMNS}
     ), t AS (
       INSERT INTO ledger_transfers (id, debit_account, credit_account, amount_atomic, kind, reference)
       SELECT $12, $9, $10, $11::numeric, $13, $14 FROM i WHERE $11::numeric > 0
     )
     SELECT (SELECT balance_atomic::text FROM l WHERE account = $9) AS debit_balance, i.*
       FROM (SELECT 1) one LEFT JOIN i ON true`,
    [
      escrow.reference,
      i.client_did,
      i.intent_type,
      i.description,
      i.budget_atomic,
      i.sla_ms ?? null,
      i.inputs_ref ?? null,
      i.ttlMinutes,
      escrow.debit,
      escrow.credit,
      escrow.amount.toString(),
      escrow.id,
      escrow.kind,
      escrow.reference,
    ],
  );
  const { debit_balance, ...row } = rows[0] as { debit_balance: string } & Parameters<typeof toIntent>[0];
  return row.id === null ? { shortOf: BigInt(debit_balance) } : { intent: toIntent(row) };
}

/** An intent still takes offers and may settle: open, and not past its expiry. */
export const intentIsLive = (i: IntentRecord, now = new Date()): boolean =>
  i.status === 'open' && (i.expires_at === null || new Date(i.expires_at) > now);

/** Whether a negotiation of the intent is accepted and not expired (it may still settle). */
export async function hasLiveAcceptedNegotiation(db: Queryable, intentId: string): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT 1 FROM negotiations WHERE intent_id = $1 AND state = 'accepted' AND expires_at > now() LIMIT 1`,
    [intentId],
  );
  return rows.length > 0;
}

/**
 * Locks up to `limit` open intents past their expiry (skipping rows another run holds), oldest
 * first. The caller closes each one, so the next call sees the rest.
 */
export async function lockExpiredIntents(db: Queryable, limit: number): Promise<IntentRecord[]> {
  const { rows } = await db.query(
    `SELECT ${INTENT_COLUMNS} FROM intents WHERE status = 'open' AND expires_at <= now()
      ORDER BY expires_at, id LIMIT $1 FOR UPDATE SKIP LOCKED`,
    [limit],
  );
  return rows.map(toIntent);
}

export async function findIntent(db: Queryable, id: string, lock = false): Promise<IntentRecord | undefined> {
  const { rows } = await db.query(
    `SELECT ${INTENT_COLUMNS} FROM intents WHERE id = $1 ${lock ? 'FOR UPDATE' : ''}`,
    [id],
  );
  return rows[0] && toIntent(rows[0]);
}

export async function insertNegotiation(
  db: Queryable,
  n: {
    intent_id: string;
    client_did: string;
    agent_did: string;
    price_atomic: string;
    eta_ms: number;
    ttlMinutes: number;
  },
): Promise<NegotiationRecord> {
  const offer = [
    { by: 'agent', price_atomic: n.price_atomic, eta_ms: n.eta_ms, at: new Date().toISOString() },
  ];
  const { rows } = await db.query(
    `INSERT INTO negotiations (intent_id, client_did, agent_did, state, price_atomic, eta_ms, last_offer_by, offers, expires_at)
     VALUES ($1, $2, $3, 'proposed', $4, $5, 'agent', $6, now() + make_interval(mins => $7))
     RETURNING ${NEG_COLUMNS}`,
    [n.intent_id, n.client_did, n.agent_did, n.price_atomic, n.eta_ms, JSON.stringify(offer), n.ttlMinutes],
  );
  return toNegotiation(rows[0]);
}

export async function findNegotiation(
  db: Queryable,
  id: string,
  lock = false,
): Promise<NegotiationRecord | undefined> {
  const { rows } = await db.query(
    `SELECT ${NEG_COLUMNS} FROM negotiations WHERE id = $1 ${lock ? 'FOR UPDATE' : ''}`,
    [id],
  );
  return rows[0] && toNegotiation(rows[0]);
}

export async function updateNegotiation(
  db: Queryable,
  id: string,
  change: { state: NegotiationState; offer?: Offer },
): Promise<NegotiationRecord> {
  const { rows } = await db.query(
    `UPDATE negotiations SET state = $2, updated_at = now(),
            price_atomic = coalesce($3::numeric, price_atomic), eta_ms = coalesce($4::int, eta_ms),
            last_offer_by = coalesce($5, last_offer_by),
            offers = CASE WHEN $6::jsonb IS NULL THEN offers ELSE offers || $6::jsonb END
      WHERE id = $1 RETURNING ${NEG_COLUMNS}`,
    [
      id,
      change.state,
      change.offer?.price_atomic ?? null,
      change.offer?.eta_ms ?? null,
      change.offer?.by ?? null,
      change.offer ? JSON.stringify([change.offer]) : null,
    ],
  );
  return toNegotiation(rows[0]);
}

export async function setIntentStatus(
  db: Queryable,
  id: string,
  status: IntentStatus,
): Promise<IntentRecord> {
  const { rows } = await db.query(
    `UPDATE intents SET status = $2 WHERE id = $1 RETURNING ${INTENT_COLUMNS}`,
    [id, status],
  );
  return toIntent(rows[0]);
}

/**
 * The writes of a settlement but the money, in one statement (one round trip where three were):
 * the negotiation and the intent marked settled, and the receipt inserted by `receiptInsert` (an
 * INSERT ... RETURNING its columns, see receiptInsertSql). Returns the negotiation as updated and
 * the receipt's row.
 */
export async function settleNegotiationRows<R>(
  db: Queryable,
  negotiationId: string,
  intentId: string,
  receiptInsert: { text: string; values: unknown[] },
): Promise<{ negotiation: NegotiationRecord; receipt: R }> {
  const base = receiptInsert.values.length;
  const { rows } = await db.query(
    `WITH n AS (
       UPDATE negotiations SET state = 'settled', updated_at = now() WHERE id = $${base + 1} RETURNING ${NEG_COLUMNS}
     ), i AS (
       UPDATE intents SET status = 'settled' WHERE id = $${base + 2} RETURNING id
     ), r AS (${receiptInsert.text})
     SELECT r.*, n.id AS n_id, n.intent_id AS n_intent_id, n.client_did AS n_client_did, n.agent_did AS n_agent_did,
            n.state AS n_state, n.price_atomic AS n_price_atomic, n.eta_ms AS n_eta_ms, n.last_offer_by AS n_last_offer_by,
            n.offers AS n_offers, n.expires_at AS n_expires_at, n.created_at AS n_created_at, n.updated_at AS n_updated_at,
            (SELECT count(*) FROM i) AS n_intents
       FROM n, r`,
    [...receiptInsert.values, negotiationId, intentId],
  );
  const row = rows[0] as Record<string, unknown>;
  const n: Record<string, unknown> = {};
  const receipt: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    if (k.startsWith('n_')) n[k.slice(2)] = v;
    else receipt[k] = v;
  }
  delete n.intents;
  return { negotiation: toNegotiation(n as never), receipt: receipt as R };
}
