import './openapi-zod.js';
import { z } from 'zod';
import { MAX_SEARCH_TERMS, normalizeSearchText } from '../domain/search-text.js';

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
/** A chain id in a JSON body: a JSON integer (not `true`, `[5]` or `"0x10"`). */
export const ChainId = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
/** A chain id in a query string: decimal digits only. */
export const ChainIdQuery = z
  .string()
  .regex(/^[1-9][0-9]{0,15}$/, 'must be a positive decimal integer')
  .transform(Number)
  .pipe(ChainId);
/** The schemes a stored URI may use (SPEC section 10): nothing a browser would run. */
export const URI_SCHEMES = ['https', 'http', 'ipfs', 'ar'] as const;
export const Uri = z
  .string()
  .min(1)
  .max(2048)
  // Lower-case schemes, and no regex flag: the pattern is published in /openapi.json as it is.
  .regex(/^(https?|ipfs|ar):\/\/\S+$/, `must be a URI with one of the schemes ${URI_SCHEMES.join(', ')}`);
/** Amounts are integer strings in atomic units, at most 10^30 (SPEC section 10). */
export const MAX_AMOUNT = 10n ** 30n;
export const AtomicAmount = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,30})$/, 'must be a non-negative integer string (atomic units)')
  .refine((v) => !/^[0-9]+$/.test(v) || BigInt(v) <= MAX_AMOUNT, 'must be at most 10^30')
  .openapi({ example: '1500000' });
export const PositiveAmount = AtomicAmount.refine((v) => v !== '0', 'must be at least 1');
/**
 * A text search (`q`), bounded and normalized before it reaches the text-search parser
 * (domain/search-text.ts says why): at most 200 characters and 32 terms, with something to search.
 */
export const SearchText = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .transform((v, ctx) => {
    const { query, terms } = normalizeSearchText(v);
    if (terms > MAX_SEARCH_TERMS)
      ctx.addIssue({ code: 'custom', message: `must have at most ${MAX_SEARCH_TERMS} terms (has ${terms})` });
    else if (!query)
      ctx.addIssue({ code: 'custom', message: 'must contain a word to search for (letters or digits)' });
    return query;
  })
  .openapi({ type: 'string', minLength: 1, maxLength: 200, example: 'legal contracts' });
export const Tag = z.string().min(1).max(64, 'must be at most 64 characters');

export const Pagination = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

export const IdParams = z.strictObject({ id: Uuid });
