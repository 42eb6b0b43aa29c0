import type { z } from 'zod';
import { AppError, zodDetails } from './errors.js';

/** Validates one part of a request; a failure is a 400 VALIDATION_ERROR naming each field. */
export function parse<T extends z.ZodType>(
  schema: T,
  value: unknown,
  where: 'body' | 'query' | 'params',
): z.infer<T> {
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw AppError.validation(`Invalid request ${where}`, zodDetails(result.error));
  return result.data;
}
