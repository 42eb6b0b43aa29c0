import type { AppContext } from '../context.js';
import { insertApiKey, listApiKeys, revokeApiKey } from '../data/api-key-repository.js';
import { generateApiKey } from '../domain/api-keys.js';
import { AppError } from '../errors.js';
import type { CreateKeyInput } from '../schemas/admin.js';

/** Creates a key acting for `address`; the key itself is returned only here. */
export async function createApiKey(ctx: AppContext, input: CreateKeyInput) {
  const { key, prefix, hash } = generateApiKey();
  const record = await insertApiKey(ctx.db, { ...input, prefix, hash });
  ctx.logger.info({ api_key_id: record.id, prefix, address: record.address }, 'api key created');
  return {
    id: record.id,
    key,
    prefix,
    name: record.name,
    address: record.address,
    created_at: record.created_at,
  };
}

export async function listKeys(ctx: AppContext, limit: number, offset: number) {
  const { keys, total } = await listApiKeys(ctx.db, limit, offset);
  return { api_keys: keys, total, limit, offset };
}

export async function revokeKey(ctx: AppContext, id: string) {
  const revoked = await revokeApiKey(ctx.db, id);
  if (!revoked) throw AppError.notFound(`No API key ${id}`);
  ctx.logger.info({ api_key_id: id }, 'api key revoked');
  return revoked;
}
