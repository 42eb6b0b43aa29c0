import type { RequestHandler } from 'express';
import { AppError } from '../../errors.js';

/** True when any string in the value (keys included) holds U+0000. */
function hasNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (depth > 64 || value === null || typeof value !== 'object') return false;
  for (const [k, v] of Object.entries(value)) if (k.includes('\u0000') || hasNul(v, depth + 1)) return true;
  return false;
}

/**
 * PostgreSQL text and jsonb cannot hold U+0000: such input is refused here with a 400 naming the
 * problem, instead of failing in the database. Checks the URL (path and query) and the JSON body.
 */
export const rejectNul: RequestHandler = (req, _res, next) => {
  if (/%00/i.test(req.originalUrl) || hasNul(req.body)) {
    throw AppError.validation('Strings must not contain the NUL character (U+0000)');
  }
  next();
};
