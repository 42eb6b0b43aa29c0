import { describe, expect, it } from 'vitest';
import type { AppContext } from '../app/context.js';
import { Hub } from '../app/ws/hub.js';
import { LocalCache } from '../app/data/local-cache.js';
import { EventRelay } from '../app/ws/event-relay.js';

/** A relay on a database that refuses every query and no NATS: every pass fails. */
function failingRelay() {
  const lines: { level: string; msg: string; failures?: number }[] = [];
  const log = (level: string) => (obj: { failures?: number }, msg: string) =>
    lines.push({ level, msg, failures: obj.failures });
  const ctx = {
    env: {},
    db: { query: () => Promise.reject(new Error('connection refused')) },
    nats: { connection: undefined, state: () => 'down', onChange: () => undefined },
    localCache: new LocalCache({ ttlMs: 1000, maxEntries: 10 }),
    logger: { debug: log('debug'), info: log('info'), warn: log('warn') },
    metrics: {},
  } as unknown as AppContext;
  const relay = new EventRelay(ctx, new Hub(ctx.metrics), 60_000);
  return { relay, lines };
}

describe('EventRelay failing passes', () => {
  it('logs a failed pass at debug, and at warn once the relay keeps failing (fifth pass in a row)', async () => {
    const { relay, lines } = failingRelay();
    for (let i = 0; i < 6; i++) await relay.tick();
    expect(lines.map((l) => `${l.level}:${l.failures}`)).toEqual([
      'debug:1',
      'debug:2',
      'debug:3',
      'debug:4',
      'warn:5',
      'debug:6',
    ]);
    expect(lines.every((l) => l.msg === 'event relay pass failed')).toBe(true);
    await relay.stop();
  });
});
