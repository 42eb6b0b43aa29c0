import { iso, isUniqueViolation, type Queryable } from './sql.js';

export interface ValidationRequestRecord {
  request_hash: string;
  agent_id: string;
  validator_address: string;
  request_uri: string;
  created_at: string;
}

/** Returns undefined when the hash is already taken. */
export async function insertValidationRequest(
  db: Queryable,
  r: { agentId: string; validator: string; uri: string; hash: string; requester: string },
): Promise<ValidationRequestRecord | undefined> {
  try {
    const { rows } = await db.query<{ created_at: Date }>(
      `INSERT INTO validation_requests (request_hash, agent_uuid, validator_address, request_uri, requester_address)
       VALUES ($1, $2, $3, $4, $5) RETURNING created_at`,
      [r.hash, r.agentId, r.validator, r.uri, r.requester],
    );
    return {
      request_hash: r.hash,
      agent_id: r.agentId,
      validator_address: r.validator,
      request_uri: r.uri,
      created_at: iso(rows[0]!.created_at)!,
    };
  } catch (err) {
    if (isUniqueViolation(err)) return undefined;
    throw err;
  }
}

export async function findValidationRequest(db: Queryable, hash: string) {
  const { rows } = await db.query<{ request_hash: string; agent_uuid: string; validator_address: string }>(
    `SELECT request_hash, agent_uuid, validator_address FROM validation_requests WHERE request_hash = $1`,
    [hash],
  );
  return rows[0];
}

export async function insertValidationResponse(
  db: Queryable,
  r: { hash: string; response: number; uri?: string | undefined; tag?: string | undefined },
) {
  const { rows } = await db.query<{ id: string; created_at: Date }>(
    `INSERT INTO validation_responses (request_hash, response, response_uri, tag) VALUES ($1, $2, $3, $4)
     RETURNING id, created_at`,
    [r.hash, r.response, r.uri ?? null, r.tag ?? null],
  );
  return {
    request_hash: r.hash,
    response: r.response,
    response_uri: r.uri ?? null,
    tag: r.tag ?? null,
    created_at: iso(rows[0]!.created_at)!,
  };
}

/** Count and average of the latest response of each request of an agent, optionally filtered. */
export async function validationSummary(
  db: Queryable,
  agentId: string,
  f: { validator?: string | undefined; tag?: string | undefined },
): Promise<{ count: number; average: number | null }> {
  const { rows } = await db.query<{ count: string; average: string | null }>(
    `SELECT count(*) AS count, avg(latest.response) AS average
       FROM validation_requests vr
       CROSS JOIN LATERAL (
         SELECT response, tag FROM validation_responses r WHERE r.request_hash = vr.request_hash
         ORDER BY r.id DESC LIMIT 1
       ) latest
      WHERE vr.agent_uuid = $1
        AND ($2::text IS NULL OR vr.validator_address = $2)
        AND ($3::text IS NULL OR latest.tag = $3)`,
    [agentId, f.validator ?? null, f.tag ?? null],
  );
  const r = rows[0]!;
  return {
    count: Number(r.count),
    average: r.average === null ? null : Math.round(Number(r.average) * 100) / 100,
  };
}
