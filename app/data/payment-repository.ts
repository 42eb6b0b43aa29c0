import type { LinkPaymentInput } from '../schemas/registry.js';
import { iso, type Queryable } from './sql.js';

export interface PaymentRecord {
  id: string;
  agent_id: string;
  chain_id: number;
  tx_hash: string;
  amount_atomic: string;
  asset: string | null;
  from_address: string | null;
  to_address: string | null;
  created_at: string;
}

interface Row extends Omit<PaymentRecord, 'agent_id' | 'chain_id' | 'created_at'> {
  agent_uuid: string;
  chain_id: string;
  created_at: Date;
}
const toRecord = ({ agent_uuid, chain_id, created_at, ...r }: Row): PaymentRecord => ({
  ...r,
  agent_id: agent_uuid,
  chain_id: Number(chain_id),
  created_at: iso(created_at)!,
});
const COLUMNS =
  'id, agent_uuid, chain_id, tx_hash, amount_atomic::text AS amount_atomic, asset, from_address, to_address, created_at';

/**
 * Links a payment once per (chain, tx): returns `created` for a new link, `existing` with the
 * stored record when that transaction was linked before (the caller decides if it is the same link).
 */
export async function linkPayment(
  db: Queryable,
  p: LinkPaymentInput & { linked_by: string },
): Promise<{ created: boolean; payment: PaymentRecord }> {
  const inserted = await db.query<Row>(
    `INSERT INTO payments (agent_uuid, chain_id, tx_hash, amount_atomic, asset, from_address, to_address, linked_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (chain_id, tx_hash) DO NOTHING
     RETURNING ${COLUMNS}`,
    [
      p.agent_id,
      p.chain_id,
      p.tx_hash,
      p.amount_atomic,
      p.asset ?? null,
      p.from_address ?? null,
      p.to_address ?? null,
      p.linked_by,
    ],
  );
  if (inserted.rows[0]) return { created: true, payment: toRecord(inserted.rows[0]) };
  const existing = await db.query<Row>(
    `SELECT ${COLUMNS} FROM payments WHERE chain_id = $1 AND tx_hash = $2`,
    [p.chain_id, p.tx_hash],
  );
  return { created: false, payment: toRecord(existing.rows[0]!) };
}

export async function paymentTotals(
  db: Queryable,
  agentId: string,
): Promise<{ count: number; total_atomic: string }> {
  const { rows } = await db.query<{ count: string; total: string }>(
    `SELECT count(*) AS count, coalesce(sum(amount_atomic), 0)::text AS total FROM payments WHERE agent_uuid = $1`,
    [agentId],
  );
  return { count: Number(rows[0]!.count), total_atomic: rows[0]!.total };
}
