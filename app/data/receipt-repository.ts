import type { AttestationFact, ReceiptStatus } from '../domain/quorum.js';
import type { ScoredAttestation } from '../domain/reputation.js';
import { iso, unprepared, type Queryable } from './sql.js';
import { eventsWritten } from './event-repository.js';

export interface ReceiptRecord {
  task_id: string;
  negotiation_id: string;
  intent_id: string;
  client_did: string;
  agent_did: string;
  price_atomic: string;
  budget_atomic: string;
  sla_ms: number | null;
  latency_ms: number | null;
  outputs_ref: string | null;
  status: ReceiptStatus;
  committee: string[];
  committee_weights: number[];
  k: number;
  m: number;
  selection_seed: string;
  committee_shortfall: boolean;
  /** The client is an agent of the provider's owner address (decided when the receipt is written). */
  self_dealt: boolean;
  created_at: string;
  finalized_at: string | null;
}

export type ReceiptRow = Omit<ReceiptRecord, 'created_at' | 'finalized_at'> & {
  created_at: Date;
  finalized_at: Date | null;
};

const COLUMNS = `task_id, negotiation_id, intent_id, client_did, agent_did, price_atomic::text AS price_atomic,
  budget_atomic::text AS budget_atomic, sla_ms, latency_ms, outputs_ref, status, committee, committee_weights, k, m,
  selection_seed, committee_shortfall, self_dealt, created_at, finalized_at`;

export const toReceipt = (r: ReceiptRow): ReceiptRecord => ({
  ...r,
  created_at: iso(r.created_at)!,
  finalized_at: iso(r.finalized_at),
});

type NewReceipt = Omit<ReceiptRecord, 'task_id' | 'status' | 'self_dealt' | 'created_at' | 'finalized_at'>;

/**
 * The statement that inserts a receipt and returns its columns (self_dealt: the client DID is an
 * agent whose owner address also owns the provider's agent); usable alone or inside a WITH.
 */
export function receiptInsertSql(r: NewReceipt): { text: string; values: unknown[] } {
  return {
    text: `INSERT INTO receipts (negotiation_id, intent_id, client_did, agent_did, price_atomic, budget_atomic, sla_ms, latency_ms,
                           outputs_ref, committee, committee_weights, k, m, selection_seed, committee_shortfall, self_dealt)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
             EXISTS (SELECT 1 FROM agents c JOIN agents p ON p.owner_address = c.owner_address
                      WHERE c.did = $3 AND p.did = $4))
     RETURNING ${COLUMNS}`,
    values: [
      r.negotiation_id,
      r.intent_id,
      r.client_did,
      r.agent_did,
      r.price_atomic,
      r.budget_atomic,
      r.sla_ms,
      r.latency_ms,
      r.outputs_ref,
      r.committee,
      r.committee_weights,
      r.k,
      r.m,
      r.selection_seed,
      r.committee_shortfall,
    ],
  };
}

export async function insertReceipt(db: Queryable, r: NewReceipt): Promise<ReceiptRecord> {
  const { rows } = await db.query<ReceiptRow>(receiptInsertSql(r));
  return toReceipt(rows[0]!);
}

export async function findReceipt(
  db: Queryable,
  taskId: string,
  lock?: 'share' | 'update',
): Promise<ReceiptRow | undefined> {
  const suffix = lock === 'update' ? 'FOR UPDATE' : lock === 'share' ? 'FOR SHARE' : '';
  const { rows } = await db.query<ReceiptRow>(
    `SELECT ${COLUMNS} FROM receipts WHERE task_id = $1 ${suffix}`,
    [taskId],
  );
  return rows[0];
}

/**
 * Claims up to `limit` pending receipts after the cursor, skipping rows another finalizer holds,
 * so concurrent finalizers split the work and never touch the same receipt at once.
 *
 * The cursor is the last claimed receipt's id, and its `created_at` is read back in SQL: a
 * timestamp carried through JavaScript loses PostgreSQL's microseconds (a `Date` keeps
 * milliseconds), so the last row of a batch would compare greater than its own rounded-down
 * cursor and be claimed again and again.
 */
export async function claimPending(
  tx: Queryable,
  afterTaskId: string | undefined,
  limit: number,
): Promise<ReceiptRow[]> {
  const { rows } = await tx.query<ReceiptRow>(
    unprepared(
      `SELECT ${COLUMNS} FROM receipts
      WHERE status = 'pending'
        AND ($1::uuid IS NULL OR (created_at, task_id) > (SELECT created_at, task_id FROM receipts WHERE task_id = $1))
      ORDER BY created_at, task_id
      LIMIT $2
      FOR UPDATE SKIP LOCKED`,
      [afterTaskId ?? null, limit],
    ),
  );
  return rows;
}

export type AttestationType = AttestationFact['type'];
export interface AttestationRow extends ScoredAttestation {
  task_id: string;
  signer: string;
}

/** Attestations of many receipts in one query (the finalizer's batch). */
export async function attestationsFor(
  db: Queryable,
  taskIds: string[],
): Promise<Map<string, AttestationRow[]>> {
  const { rows } = await db.query<AttestationRow>(
    `SELECT task_id, signer_did AS signer, type, score, confidence FROM attestations WHERE task_id = ANY($1::uuid[])`,
    [taskIds],
  );
  const byTask = new Map<string, AttestationRow[]>(taskIds.map((id) => [id, []]));
  for (const r of rows) byTask.get(r.task_id)!.push(r);
  return byTask;
}

/** An attestation as its signer submits it. */
export interface AttestationSubmission {
  task_id: string;
  signer: string;
  type: AttestationType;
  score: number;
  confidence: number;
  evidence_ref?: string | undefined;
}

/** What one attestation attempt found: the receipt (if any), whether the signer may attest, and the new row. */
export interface AttestationAttempt {
  receipt: { status: ReceiptStatus } | undefined;
  allowed: boolean;
  attestation:
    | {
        id: string;
        task_id: string;
        signer_did: string;
        type: AttestationType;
        score: number;
        confidence: number;
        evidence_ref: string | null;
        created_at: string;
      }
    | undefined;
}

/**
 * Checks and records a batch of attestations (one or more) in one statement, one round trip and
 * one implicit transaction: one attempt per submission, in order. Each receipt is share-locked, so
 * a concurrent finalization cannot slip between the check and the insert. Rows are inserted in key
 * order, so two batches that share keys take them in the same order and cannot deadlock.
 * ACCEPTED/REJECTED only from the receipt's client, the other types only from its committee; one
 * per (task, signer, type), and of two in one batch the first is recorded and the second finds it,
 * as if it had come after; none once the receipt left pending. Each recorded attestation writes its outbox event
 * `attestation.submitted` (to the client and the provider); the relays are woken after the
 * statement (wakeRelays).
 */
export async function submitAttestations(
  db: Queryable,
  batch: readonly AttestationSubmission[],
): Promise<AttestationAttempt[]> {
  const { rows } = await db.query<{
    ord: string;
    status: ReceiptStatus | null;
    allowed: boolean;
    id: string | null;
    created_at: Date | null;
    events: string;
  }>({
    // The batch crosses as one JSON array, so the text never changes: prepared once per connection.
    name: 'submit-attestations',
    text: `WITH t AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb)
         AS t(ord int, task_id uuid, signer text, type text, score float8, confidence float8, evidence_ref text)
     ), r AS (
       SELECT task_id, status, client_did, agent_did, committee FROM receipts
        WHERE task_id IN (SELECT task_id FROM t) ORDER BY task_id FOR SHARE
     ), ok AS (
       SELECT t.*, r.client_did, r.agent_did,
              t.ord = min(t.ord) OVER (PARTITION BY t.task_id, t.signer, t.type) AS first
         FROM t JOIN r USING (task_id)
        WHERE r.status = 'pending'
          AND CASE WHEN t.type IN ('ACCEPTED', 'REJECTED') THEN r.client_did = t.signer ELSE t.signer = ANY (r.committee) END
     ), ins AS (
       INSERT INTO attestations (task_id, signer_did, type, score, confidence, evidence_ref)
       SELECT task_id, signer, type, score, confidence, evidence_ref FROM ok WHERE first
        ORDER BY task_id, signer, type -- unique keys taken in one order by every batch: no deadlock
       ON CONFLICT (task_id, signer_did, type) DO NOTHING
       RETURNING id, task_id, signer_did, type, created_at
     ), done AS (
       SELECT ok.*, ins.id, ins.created_at FROM ok
         JOIN ins ON ins.task_id = ok.task_id AND ins.signer_did = ok.signer AND ins.type = ok.type
        WHERE ok.first
     ), ev AS (
       INSERT INTO events (type, recipients, payload)
       SELECT 'attestation.submitted',
              CASE WHEN client_did = agent_did THEN ARRAY[client_did] ELSE ARRAY[client_did, agent_did] END,
              jsonb_build_object('attestation', jsonb_build_object(
                'id', id, 'task_id', task_id, 'signer_did', signer, 'type', type, 'score', score,
                'confidence', confidence, 'evidence_ref', evidence_ref,
                'created_at', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
         FROM done ORDER BY ord
       RETURNING id
     )
     SELECT t.ord, r.status, ok.ord IS NOT NULL AS allowed, done.id, done.created_at,
            (SELECT count(*) FROM ev) AS events
       FROM t LEFT JOIN r USING (task_id) LEFT JOIN ok ON ok.ord = t.ord LEFT JOIN done ON done.ord = t.ord
      ORDER BY t.ord`,
    values: [JSON.stringify(batch.map((a, ord) => ({ ...a, ord, evidence_ref: a.evidence_ref ?? null })))],
  });
  if (rows.some((r) => r.id !== null)) eventsWritten(db);
  return rows.map((row) => {
    const a = batch[Number(row.ord)]!;
    if (!row.status) return { receipt: undefined, allowed: false, attestation: undefined };
    return {
      receipt: { status: row.status },
      allowed: row.allowed,
      attestation: row.id
        ? {
            id: row.id,
            task_id: a.task_id,
            signer_did: a.signer,
            type: a.type,
            score: a.score,
            confidence: a.confidence,
            evidence_ref: a.evidence_ref ?? null,
            created_at: iso(row.created_at)!,
          }
        : undefined,
    };
  });
}

export async function attestationCounts(db: Queryable, taskId: string): Promise<Record<string, number>> {
  const { rows } = await db.query<{ type: string; n: string }>(
    `SELECT type, count(*) AS n FROM attestations WHERE task_id = $1 GROUP BY type`,
    [taskId],
  );
  return Object.fromEntries(rows.map((r) => [r.type, Number(r.n)]));
}

export async function listAttestations(db: Queryable, taskId: string, limit: number, offset: number) {
  const { rows } = await db.query<{
    id: string;
    signer_did: string;
    type: string;
    score: number;
    confidence: number;
    evidence_ref: string | null;
    created_at: Date;
  }>(
    `SELECT id, signer_did, type, score, confidence, evidence_ref, created_at FROM attestations
      WHERE task_id = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3`,
    [taskId, limit, offset],
  );
  return rows.map((r) => ({ ...r, created_at: iso(r.created_at)! }));
}

/** Moves receipts out of pending; returns the ids actually moved (a receipt leaves pending once). */
export async function closeReceipts(
  db: Queryable,
  changes: { task_id: string; status: ReceiptStatus }[],
): Promise<Set<string>> {
  if (!changes.length) return new Set();
  const { rows } = await db.query<{ task_id: string }>(
    `UPDATE receipts r SET status = c.status, finalized_at = now()
       FROM unnest($1::uuid[], $2::text[]) AS c(task_id, status)
      WHERE r.task_id = c.task_id AND r.status = 'pending'
      RETURNING r.task_id`,
    [changes.map((c) => c.task_id), changes.map((c) => c.status)],
  );
  return new Set(rows.map((r) => r.task_id));
}

export async function countPendingReceipts(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    `SELECT count(*) AS n FROM receipts WHERE status = 'pending'`,
  );
  return Number(rows[0]!.n);
}

/** Settled (all receipts), finalized and failed-or-expired task counts of a provider. */
export async function taskCounts(db: Queryable, agentDid: string) {
  const { rows } = await db.query<{ settled: number; finalized: number; failed: number }>(
    `SELECT count(*)::int AS settled,
            count(*) FILTER (WHERE status = 'finalized')::int AS finalized,
            count(*) FILTER (WHERE status IN ('failed', 'expired'))::int AS failed
       FROM receipts WHERE agent_did = $1`,
    [agentDid],
  );
  return rows[0]!;
}

/**
 * A receipt locked FOR UPDATE with its attestations and its provider's usefulness, in one round
 * trip (the API's finalize). When the receipt's work earns reputation (audited, not self-dealt),
 * the provider's reputation row is created at neutral if missing, so that the closing statement
 * only has to update it.
 */
export async function lockReceiptForFinalize(
  db: Queryable,
  taskId: string,
): Promise<{ receipt: ReceiptRow; attestations: AttestationRow[]; usefulness: number | null } | undefined> {
  const { rows } = await db.query(
    `WITH r AS (SELECT ${COLUMNS} FROM receipts WHERE task_id = $1 FOR UPDATE),
     rep AS (
       INSERT INTO reputations (did) SELECT agent_did FROM r
        WHERE r.status = 'pending' AND NOT r.committee_shortfall AND NOT r.self_dealt
          -- Only when missing: an insert that meets the row waits for whoever is updating it.
          AND NOT EXISTS (SELECT 1 FROM reputations p WHERE p.did = r.agent_did)
       ON CONFLICT (did) DO NOTHING
     )
     SELECT r.*,
            coalesce((SELECT jsonb_agg(jsonb_build_object('task_id', a.task_id, 'signer', a.signer_did, 'type', a.type,
                                                          'score', a.score, 'confidence', a.confidence))
                        FROM attestations a WHERE a.task_id = r.task_id), '[]'::jsonb) AS attestation_rows,
            (SELECT u.score FROM agent_usefulness u WHERE u.did = r.agent_did) AS usefulness_score
       FROM r`,
    [taskId],
  );
  if (!rows[0]) return undefined;
  const { attestation_rows, usefulness_score, ...receipt } = rows[0] as ReceiptRow & {
    attestation_rows: AttestationRow[];
    usefulness_score: number | null;
  };
  return { receipt, attestations: attestation_rows, usefulness: usefulness_score };
}
