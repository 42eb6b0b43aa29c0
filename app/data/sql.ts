import type pg from 'pg';

/** A pool or a client inside a transaction: repositories accept either. */
export type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

export const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);

/** PostgreSQL unique_violation, optionally on a named constraint. */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as { code?: string; constraint?: string };
  return e?.code === '23505' && (!constraint || e.constraint === constraint);
}

/**
 * A statement sent unprepared (PreparingClient passes query configs through): for a text whose
 * filters are switched on and off by its parameters (`$1 IS NULL OR ...`). Prepared, PostgreSQL
 * would plan it for those values five times, then may settle on a generic plan, which cannot drop
 * the switched-off arm and so cannot use the index the arm that is on needs (a text search over
 * every agent instead of its GIN index); a few calls with costly values (a refresh of every agent)
 * make that switch likelier.
 */
export const unprepared = (text: string, values: unknown[]): pg.QueryConfig => ({ text, values });
