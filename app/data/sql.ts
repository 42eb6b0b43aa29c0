import type pg from 'pg';

/** A pool or a client inside a transaction: repositories accept either. */
export type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

export const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);

/** PostgreSQL unique_violation, optionally on a named constraint. */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as { code?: string; constraint?: string };
  return e?.code === '23505' && (!constraint || e.constraint === constraint);
}
