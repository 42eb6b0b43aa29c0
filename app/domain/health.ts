export type DependencyState = 'up' | 'down' | 'in_memory' | 'in_process';
export type MigrationState = 'up_to_date' | 'pending' | 'modified' | 'unknown';

export interface HealthChecks {
  database: 'up' | 'down';
  redis: DependencyState;
  nats: DependencyState;
  migrations: MigrationState;
}

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

/**
 * Without a database or with a schema behind the code the broker cannot serve: unhealthy.
 * Valkey and NATS have stand-ins, so their absence (or an outage) is degraded, never unhealthy.
 */
export function overallStatus(checks: HealthChecks): HealthStatus {
  if (checks.database !== 'up' || checks.migrations !== 'up_to_date') return 'unhealthy';
  if (checks.redis !== 'up' || checks.nats !== 'up') return 'degraded';
  return 'healthy';
}

/** Ready = may receive traffic: database answers, schema at head, not draining. */
export function isReady(checks: Pick<HealthChecks, 'database' | 'migrations'>, draining: boolean): boolean {
  return !draining && checks.database === 'up' && checks.migrations === 'up_to_date';
}
