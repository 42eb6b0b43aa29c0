import { describe, expect, it } from 'vitest';
import { isReady, overallStatus, type HealthChecks } from '../app/domain/health.js';

const all: HealthChecks = { database: 'up', redis: 'up', nats: 'up', migrations: 'up_to_date' };

describe('overallStatus', () => {
  it.each<[Partial<HealthChecks>, string]>([
    [{}, 'healthy'],
    [{ redis: 'in_memory' }, 'degraded'],
    [{ nats: 'down' }, 'degraded'],
    [{ database: 'down' }, 'unhealthy'],
    [{ migrations: 'pending' }, 'unhealthy'],
    [{ migrations: 'modified', redis: 'down' }, 'unhealthy'],
  ])('%j gives %s', (change, expected) => {
    expect(overallStatus({ ...all, ...change })).toBe(expected);
  });

  it('is not ready while draining even when everything is up', () => {
    expect(isReady(all, true)).toBe(false);
    expect(isReady(all, false)).toBe(true);
    expect(isReady({ ...all, migrations: 'pending' }, false)).toBe(false);
  });
});
