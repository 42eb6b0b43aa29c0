import { describe, expect, it } from 'vitest';
import type { AppContext } from '../app/context.js';
import { LocalCache } from '../app/data/local-cache.js';
import { DeliveredNumbers } from '../app/ws/delivered-numbers.js';
import { EventRelay } from '../app/ws/event-relay.js';
import { Hub } from '../app/ws/hub.js';

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

describe('DeliveredNumbers', () => {
  const started = (latest: string) => {
    const d = new DeliveredNumbers();
    d.start(latest);
    return d;
  };

  it('hands each number on once, and starts after the newest number when it starts', () => {
    const d = started('10');
    expect(['9', '10', '11', '11', '12'].map((n) => d.accept(n))).toEqual([false, false, true, false, true]);
    expect(d.after).toBe('12');
    expect(d.gap).toBe(false);
  });

  it('notices a number that came before an earlier one, and closes the gap when it arrives', () => {
    const d = started('10');
    expect(d.accept('12')).toBe(true);
    expect(d.accept('14')).toBe(true);
    expect(d.gap).toBe(true);
    expect(d.after).toBe('10'); // the database is read from the first missing number
    expect(d.accept('11')).toBe(true);
    expect(d.after).toBe('12');
    expect(d.accept('13')).toBe(true);
    expect([d.after, d.gap]).toEqual(['14', false]);
    expect(d.accept('12')).toBe(false);
  });

  it('skips numbers the database does not have (insert ids kept from before migration 0010)', () => {
    const d = started('10');
    d.accept('15');
    d.skipTo('14'); // the database's first row after 10 is 14: 11 to 13 do not exist
    expect([d.after, d.gap]).toEqual(['13', true]);
    expect(d.accept('14')).toBe(true);
    expect([d.after, d.gap]).toEqual(['15', false]);
    d.skipTo('12'); // behind what was handed on: changes nothing
    expect(d.after).toBe('15');
  });

  it('counts nothing before it starts, and forgets on start what the start covers', () => {
    const d = new DeliveredNumbers();
    expect(d.started).toBe(false);
    expect(d.accept('5')).toBe(true);
    expect(() => d.after).toThrow(/before start/);
    d.start('7');
    expect([d.after, d.gap]).toEqual(['7', false]);
  });
});
