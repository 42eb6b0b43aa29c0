import './openapi-zod.js';
import { z } from 'zod';

/** Shared request pieces. Objects are strict: unknown fields are a 400 naming them. */

export const Address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'must be 0x followed by 40 hex characters')
  .transform((v) => v.toLowerCase())
  .openapi({ example: '0x52908400098527886e0f7030069857d2e4169ee7' });

export const Uuid = z.uuid('must be a UUID');
export const Bytes32 = z
  .string()
  .regex(/^0x[0-9a-fA-F]{64}$/, 'must be 0x followed by 64 hex characters')
  .transform((v) => v.toLowerCase());
export const TxHash = Bytes32;
export const ChainId = z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
export const Uri = z.string().min(1).max(2048);
/** Amounts are integer strings in atomic units. */
export const AtomicAmount = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,77})$/, 'must be a non-negative integer string (atomic units)')
  .openapi({ example: '1500000' });
export const Tag = z.string().min(1).max(64, 'must be at most 64 characters');

export const Pagination = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

export const IdParams = z.strictObject({ id: Uuid });
