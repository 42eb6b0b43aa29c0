import type { FeedbackInput } from '../schemas/registry.js';
import { NEGATIVE_BELOW, POSITIVE_MIN } from '../domain/feedback-summary.js';
import { iso, type Queryable } from './sql.js';

export interface FeedbackRecord {
  agent_id: string;
  client_address: string;
  feedback_index: number;
  value: string;
  value_decimals: number;
  score: number;
  tag1: string | null;
  tag2: string | null;
  endpoint: string | null;
  feedback_uri: string | null;
  feedback_hash: string | null;
  proof_of_payment: FeedbackInput['proof_of_payment'] | null;
  revoked: boolean;
  created_at: string;
}

interface Row {
  agent_uuid: string;
  client_address: string;
  feedback_index: number;
  value: string;
  value_decimals: number;
  score: string;
  tag1: string | null;
  tag2: string | null;
  endpoint: string | null;
  feedback_uri: string | null;
  feedback_hash: string | null;
  proof_of_payment: FeedbackInput['proof_of_payment'] | null;
  revoked_at: Date | null;
  created_at: Date;
}

const toRecord = ({ agent_uuid, revoked_at, score, created_at, ...r }: Row): FeedbackRecord => ({
  agent_id: agent_uuid,
  ...r,
  score: Number(score),
  revoked: revoked_at !== null,
  created_at: iso(created_at)!,
});

/** Stats deltas for one feedback of `score` entering (+1) or leaving (-1) the live set. */
function statsDelta(score: number, sign: 1 | -1) {
  return [sign, score >= POSITIVE_MIN ? sign : 0, score < NEGATIVE_BELOW ? sign : 0, score * sign] as const;
}

/** Inserts the next feedback of (agent, client); call inside a transaction. */
export async function insertFeedback(
  tx: Queryable,
  input: FeedbackInput & { client_address: string },
  score: number,
): Promise<FeedbackRecord> {
  const counter = await tx.query<{ last_index: number }>(
    `INSERT INTO feedback_counters (agent_uuid, client_address, last_index) VALUES ($1, $2, 1)
     ON CONFLICT (agent_uuid, client_address) DO UPDATE SET last_index = feedback_counters.last_index + 1
     RETURNING last_index`,
    [input.agent_id, input.client_address],
  );
  const { rows } = await tx.query<Row>(
    `INSERT INTO feedback (agent_uuid, client_address, feedback_index, value, value_decimals, score, tag1, tag2,
                           endpoint, feedback_uri, feedback_hash, proof_of_payment)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
     RETURNING *`,
    [
      input.agent_id,
      input.client_address,
      counter.rows[0]!.last_index,
      input.value,
      input.value_decimals,
      score,
      input.tag1 ?? null,
      input.tag2 ?? null,
      input.endpoint ?? null,
      input.feedback_uri ?? null,
      input.feedback_hash ?? null,
      input.proof_of_payment ? JSON.stringify(input.proof_of_payment) : null,
    ],
  );
  const [total, positive, negative, sum] = statsDelta(score, 1);
  await tx.query(
    `UPDATE agent_feedback_stats SET total = total + $2, positive = positive + $3, negative = negative + $4,
            score_sum = score_sum + $5, last_feedback_at = now() WHERE agent_uuid = $1`,
    [input.agent_id, total, positive, negative, sum],
  );
  return toRecord(rows[0]!);
}

export type RevokeOutcome = 'revoked' | 'already_revoked' | 'not_found';

/** Revokes one feedback once and takes it out of the live aggregate; call inside a transaction. */
export async function revokeFeedback(
  tx: Queryable,
  agentId: string,
  client: string,
  index: number,
): Promise<RevokeOutcome> {
  const { rows } = await tx.query<{ score: string; revoked_at: Date | null }>(
    `SELECT score, revoked_at FROM feedback WHERE agent_uuid = $1 AND client_address = $2 AND feedback_index = $3
       FOR UPDATE`,
    [agentId, client, index],
  );
  const row = rows[0];
  if (!row) return 'not_found';
  if (row.revoked_at) return 'already_revoked';
  await tx.query(
    `UPDATE feedback SET revoked_at = now() WHERE agent_uuid = $1 AND client_address = $2 AND feedback_index = $3`,
    [agentId, client, index],
  );
  const [total, positive, negative, sum] = statsDelta(Number(row.score), -1);
  await tx.query(
    `UPDATE agent_feedback_stats SET total = total + $2, positive = positive + $3, negative = negative + $4,
            score_sum = score_sum + $5, revoked = revoked + 1 WHERE agent_uuid = $1`,
    [agentId, total, positive, negative, sum],
  );
  return 'revoked';
}

export async function insertFeedbackResponse(
  db: Queryable,
  f: {
    agentId: string;
    client: string;
    index: number;
    responder: string;
    uri: string;
    hash?: string | undefined;
  },
) {
  const { rows } = await db.query<{ id: string; created_at: Date }>(
    `INSERT INTO feedback_responses (feedback_id, responder_address, response_uri, response_hash)
     SELECT id, $4, $5, $6 FROM feedback WHERE agent_uuid = $1 AND client_address = $2 AND feedback_index = $3
     RETURNING id, created_at`,
    [f.agentId, f.client, f.index, f.responder, f.uri, f.hash ?? null],
  );
  return rows[0] && { id: rows[0].id, created_at: iso(rows[0].created_at)! };
}

export interface FeedbackStats {
  total: number;
  revoked: number;
  positive: number;
  negative: number;
  score_sum: number;
  last_feedback_at: string | null;
}

export async function feedbackStats(db: Queryable, agentId: string): Promise<FeedbackStats | undefined> {
  const { rows } = await db.query<{
    total: number;
    revoked: number;
    positive: number;
    negative: number;
    score_sum: string;
    last_feedback_at: Date | null;
  }>(
    `SELECT total, revoked, positive, negative, score_sum, last_feedback_at FROM agent_feedback_stats WHERE agent_uuid = $1`,
    [agentId],
  );
  const r = rows[0];
  return r && { ...r, score_sum: Number(r.score_sum), last_feedback_at: iso(r.last_feedback_at) };
}
