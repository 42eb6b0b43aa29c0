import type { AppContext } from '../context.js';
import type { HealthChecks, MigrationState } from '../domain/health.js';
import { pingDb } from './db.js';
import { migrationStatus } from '../migrate/runner.js';

async function migrationState(ctx: AppContext): Promise<MigrationState> {
  try {
    const s = await migrationStatus(ctx.db, ctx.migrations);
    if (s.modified.length > 0) return 'modified';
    return s.pending.length === 0 ? 'up_to_date' : 'pending';
  } catch {
    return 'unknown';
  }
}

/** Asks every dependency how it is, in parallel; also feeds the `ainp_dependency_up` gauge. */
export async function probeDependencies(
  ctx: AppContext,
  which: 'all' | 'database' = 'all',
): Promise<HealthChecks> {
  const dbUp = await pingDb(ctx.db);
  const [migrations, redis] = await Promise.all([
    dbUp ? migrationState(ctx) : Promise.resolve<MigrationState>('unknown'),
    which === 'all' ? ctx.redis.state() : Promise.resolve('in_memory' as const),
  ]);
  const checks: HealthChecks = { database: dbUp ? 'up' : 'down', redis, nats: ctx.nats.state(), migrations };
  const g = ctx.metrics.dependencyUp;
  g.set({ dependency: 'database' }, dbUp ? 1 : 0);
  if (which === 'all') g.set({ dependency: 'redis' }, redis === 'up' ? 1 : 0);
  g.set({ dependency: 'nats' }, checks.nats === 'up' ? 1 : 0);
  return checks;
}
