import { describe, expect, it } from 'vitest';
import { GroupCommit, type GroupCommitOptions } from '../app/data/group-commit.js';
import { AppError } from '../app/errors.js';

/** A promise to settle by hand. */
function deferred() {
  let release!: () => void;
  const promise = new Promise<void>((r) => (release = r));
  return { promise, release };
}

/** A GroupCommit over numbers whose writes record what they were given and wait for `gate`. */
function recorder(opts: Partial<GroupCommitOptions<number, string>> = {}) {
  const batches: number[][] = [];
  const lone: number[] = [];
  let gate = deferred();
  let running = 0;
  let maxRunning = 0;
  const track = async <T>(fn: () => T) => {
    running += 1;
    maxRunning = Math.max(maxRunning, running);
    await gate.promise;
    running -= 1;
    return fn();
  };
  const queued: number[] = [];
  const gc = new GroupCommit<number, string>({
    maxBatch: 50,
    maxInFlight: 1,
    maxQueued: 100,
    writeBatch: (items) =>
      track(() => {
        batches.push(items);
        return items.map((i) => `b${i}`);
      }),
    writeOne: (item) =>
      track(() => {
        lone.push(item);
        return `o${item}`;
      }),
    onQueued: (n) => queued.push(n),
    ...opts,
  });
  return {
    gc,
    batches,
    lone,
    queued,
    open: () => gate.release(),
    close: () => (gate = deferred()),
    maxRunning: () => maxRunning,
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('GroupCommit (group commit of hot writes)', () => {
  it('writes a lone item at once, through writeOne, without waiting for company', async () => {
    const r = recorder();
    r.open();
    expect(await r.gc.submit(7)).toBe('o7');
    expect(r.lone).toEqual([7]);
    expect(r.batches).toEqual([]);
  });

  it('puts the writes that arrive during a batch into the next one, in order, each with its own result', async () => {
    const r = recorder();
    const first = r.gc.submit(0);
    const rest = [1, 2, 3, 4, 5].map((i) => r.gc.submit(i));
    await tick();
    expect(r.gc.queued).toBe(5);
    expect(r.queued.at(-1)).toBe(5);
    r.open();
    expect(await first).toBe('o0');
    expect(await Promise.all(rest)).toEqual(['b1', 'b2', 'b3', 'b4', 'b5']);
    expect(r.batches).toEqual([[1, 2, 3, 4, 5]]);
    expect(r.queued.at(-1)).toBe(0);
  });

  it('keeps to maxBatch items per batch and maxInFlight batches at once', async () => {
    const r = recorder({ maxBatch: 3, maxInFlight: 2 });
    const all = Array.from({ length: 10 }, (_, i) => r.gc.submit(i));
    await tick();
    expect(r.maxRunning()).toBe(2);
    expect(r.gc.queued).toBe(8); // 0 and 1 went alone at once, one batch each
    r.open();
    await Promise.all(all);
    expect(r.maxRunning()).toBe(2);
    expect([...r.batches.map((b) => b.length), ...r.lone.map(() => 1)].sort()).toEqual([1, 1, 2, 3, 3]);
    expect([...r.batches.flat(), ...r.lone].sort((a, b) => a - b)).toEqual([...Array(10).keys()]);
  });

  it('refuses a write past maxQueued with a 503, and writes the ones it took', async () => {
    const r = recorder({ maxQueued: 2 });
    const taken = [r.gc.submit(1), r.gc.submit(2), r.gc.submit(3)]; // 1 in flight, 2 and 3 waiting
    const refused = r.gc.submit(4);
    await expect(refused).rejects.toSatisfy((e) => e instanceof AppError && e.status === 503);
    r.open();
    expect(await Promise.all(taken)).toEqual(['o1', 'b2', 'b3']);
  });

  it('writes each item alone when PostgreSQL refused the batch, so only the bad one fails', async () => {
    const tried: number[] = [];
    const gc = new GroupCommit<number, number>({
      maxBatch: 50,
      maxInFlight: 1,
      maxQueued: 100,
      writeBatch: () => Promise.reject(Object.assign(new Error('check violation'), { code: '23514' })),
      writeOne: async (i) => {
        tried.push(i);
        if (i === 2) throw Object.assign(new Error('check violation'), { code: '23514' });
        return i * 10;
      },
    });
    const hold = gc.submit(0); // in flight while 1, 2, 3 queue
    const results = await Promise.allSettled([1, 2, 3].map((i) => gc.submit(i)));
    await hold;
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))).toEqual([10, 30]);
    expect(tried.sort()).toEqual([0, 1, 2, 3]);
  });

  it('does not retry a batch whose outcome is unknown (no SQLSTATE): every item gets the error', async () => {
    const lost = new Error('Connection terminated unexpectedly');
    let alone = 0;
    const gc = new GroupCommit<number, number>({
      maxBatch: 50,
      maxInFlight: 1,
      maxQueued: 100,
      writeBatch: () => Promise.reject(lost),
      writeOne: async (i) => {
        alone += 1;
        return i;
      },
    });
    const hold = gc.submit(0);
    const results = await Promise.allSettled([1, 2].map((i) => gc.submit(i)));
    await hold;
    expect(results).toEqual([
      { status: 'rejected', reason: lost },
      { status: 'rejected', reason: lost },
    ]);
    expect(alone).toBe(1); // the lone first write only
  });

  it('fails every item, guessing none, when a batch returns the wrong number of results', async () => {
    const gc = new GroupCommit<number, number>({
      maxBatch: 50,
      maxInFlight: 1,
      maxQueued: 100,
      writeBatch: async (items) => items.slice(1),
      writeOne: async (i) => i,
    });
    const hold = gc.submit(0);
    const results = await Promise.allSettled([1, 2].map((i) => gc.submit(i)));
    await hold;
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(/returned 1 results for 2 items/);
  });

  it('refuses bounds that are not positive integers', () => {
    const writes = { writeBatch: async () => [], writeOne: async () => 0 };
    for (const bad of [0, -1, 1.5, NaN])
      expect(() => new GroupCommit({ ...writes, maxBatch: bad, maxInFlight: 1, maxQueued: 1 })).toThrow(
        /maxBatch/,
      );
  });
});
