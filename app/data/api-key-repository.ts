import type { Queryable } from './sql.js';
import { iso } from './sql.js';

export interface ApiKeyRecord {
  id: string;
  name: string;
  address: string;
  prefix: string;
  created_at: string;
  revoked_at: string | null;
}

interface Row {
  id: string;
  name: string;
  address: string;
  prefix: string;
  created_at: Date;
  revoked_at: Date | null;
}
const toRecord = (r: Row): ApiKeyRecord => ({
  ...r,
  created_at: iso(r.created_at)!,
  revoked_at: iso(r.revoked_at),
});
const COLUMNS = 'id, name, address, prefix, created_at, revoked_at';

export async function insertApiKey(
  db: Queryable,
  k: { name: string; address: string; prefix: string; hash: string },
): Promise<ApiKeyRecord> {
  const { rows } = await db.query<Row>(
    `INSERT INTO api_keys (name, address, prefix, key_hash) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`,
    [k.name, k.address, k.prefix, k.hash],
  );
  return toRecord(rows[0]!);
}

/** The live (not revoked) key with this hash. */
export async function findActiveApiKeyByHash(db: Queryable, hash: string): Promise<ApiKeyRecord | undefined> {
  const { rows } = await db.query<Row>({
    name: 'api-key-by-hash',
    text: `SELECT ${COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL`,
    values: [hash],
  });
  return rows[0] && toRecord(rows[0]);
}

/** Of these key ids, the ones revoked since (open WebSockets of revoked keys are closed). */
export async function revokedAmong(db: Queryable, ids: string[]): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM api_keys WHERE id = ANY($1::uuid[]) AND revoked_at IS NOT NULL`,
    [ids],
  );
  return rows.map((r) => r.id);
}

export async function listApiKeys(db: Queryable, limit: number, offset: number) {
  const { rows } = await db.query<Row & { total: string }>(
    `SELECT ${COLUMNS}, count(*) OVER () AS total FROM api_keys ORDER BY created_at DESC, id LIMIT $1 OFFSET $2`,
    [limit, offset],
  );
  const total = rows[0] ? Number(rows[0].total) : await countApiKeys(db);
  return { keys: rows.map(({ total: _t, ...r }) => toRecord(r)), total };
}

async function countApiKeys(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM api_keys');
  return Number(rows[0]!.n);
}

/** Revokes a key once; returns undefined when there is no such key, the record otherwise. */
export async function revokeApiKey(
  db: Queryable,
  id: string,
): Promise<{ record: ApiKeyRecord; hash: string } | undefined> {
  const { rows } = await db.query<Row & { key_hash: string }>(
    `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING ${COLUMNS}, key_hash`,
    [id],
  );
  if (!rows[0]) return undefined;
  const { key_hash, ...row } = rows[0];
  return { record: toRecord(row), hash: key_hash };
}
