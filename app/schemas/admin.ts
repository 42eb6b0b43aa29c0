import { z } from 'zod';
import { Address } from './common.js';
import { DepositBody } from './pou.js';

export const CreateKeyBody = z.strictObject({ name: z.string().trim().min(1).max(100), address: Address });
export type CreateKeyInput = z.infer<typeof CreateKeyBody>;

export const ApiKey = z.object({
  id: z.string(),
  prefix: z.string(),
  name: z.string(),
  address: z.string(),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
});
export const CreatedKey = ApiKey.omit({ revoked_at: true }).extend({ key: z.string() });

/** A withdrawal takes what a deposit takes: the DID, the amount and a reference naming it. */
export const WithdrawalBody = DepositBody;
export type WithdrawalInput = z.infer<typeof WithdrawalBody>;

/** The system accounts' balances, atomic units as decimal strings (treasury alone may be negative). */
export const SystemLedger = z.object({
  treasury_atomic: z.string(),
  broker_atomic: z.string(),
  validators_atomic: z.string(),
  pool_atomic: z.string(),
});
