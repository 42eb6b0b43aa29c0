import type { RequestHandler } from 'express';
import { AppError } from '../../errors.js';

/** Why a string cannot be stored: U+0000, or a lone surrogate (not valid Unicode). */
function badString(s: string): string | undefined {
  if (s.includes('\u0000')) return 'Strings must not contain the NUL character (U+0000)';
  if (!s.isWellFormed()) return 'Strings must be valid Unicode (no lone surrogate)';
  return undefined;
}

/** The first problem with any string in the value (keys included). */
export function badStrings(value: unknown, depth = 0): string | undefined {
  if (typeof value === 'string') return badString(value);
  if (depth > 64 || value === null || typeof value !== 'object') return undefined;
  for (const [k, v] of Object.entries(value)) {
    const problem = badString(k) ?? badStrings(v, depth + 1);
    if (problem) return problem;
  }
  return undefined;
}

/**
 * PostgreSQL text and jsonb cannot hold U+0000, and a lone surrogate is not Unicode at all (SPEC
 * section 10): such input is refused here with a 400 naming the problem, instead of failing in the
 * database or being stored. Checks the URL (path and query) and the JSON body.
 */
export const rejectNul: RequestHandler = (req, _res, next) => {
  if (/%00/i.test(req.originalUrl)) throw AppError.validation(badString('\u0000')!);
  const problem = badStrings(req.body);
  if (problem) throw AppError.validation(problem);
  next();
};
