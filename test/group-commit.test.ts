import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { GroupCommit, type GroupCommitOptions } from '../app/data/group-commit.js';
import { AppError } from '../app/errors.js';

/** A promise to settle by hand. */
function deferred() {
  let release!: () => void;
  const promise = new Promise<void>((r) => (release = r));
  return { promise, release };
}

/** A GroupCommit over numbers whose writes record the batches they were given and wait for `open`. */
function recorder(opts: Partial<GroupCommitOptions<number, string>> = {}) {
  const batches: number[][] = [];
  const gate = deferred();
  let running = 0;
  let maxRunning = 0;
  const queued: number[] = [];
  const gc = new GroupCommit<number, string>({
    maxBatch: 50,
    maxInFlight: 1,
    maxQueued: 100,
    write: async (items) => {
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      await gate.promise;
      running -= 1;
      batches.push(items);
      return items.map((i) => `w${i}`);
    },
    onQueued: (n) => queued.push(n),
    ...opts,
  });
  return { gc, batches, queued, open: () => gate.release(), maxRunning: () => maxRunning };
}

/** An error PostgreSQL reported: the statement rolled back. */
const refused = () => Object.assign(new pg.DatabaseError('check violation', 0, 'error'), { code: '23514' });
const tick = () => new Promise((r) => setImmediate(r));

/** A GroupCommit over numbers: one batch in flight, 50 items a batch, 100 waiting. */
const numbers = (opts: Pick<GroupCommitOptions<number, number>, 'write'>) =>
  new GroupCommit<number, number>({ maxBatch: 50, maxInFlight: 1, maxQueued: 100, ...opts });

describe('GroupCommit (group commit of hot writes)', () => {
  it('writes a lone item at once, as a batch of one, without waiting for company', async () => {
    const r = recorder();
    r.open();
    expect(await r.gc.submit(7)).toBe('w7');
    expect(r.batches).toEqual([[7]]);
  });

  it('puts the writes that arrive during a batch into the next one, in order, each with its own result', async () => {
    const r = recorder();
    const first = r.gc.submit(0);
    const rest = [1, 2, 3, 4, 5].map((i) => r.gc.submit(i));
    await tick();
    expect(r.gc.queued).toBe(5);
    expect(r.queued.at(-1)).toBe(5);
    r.open();
    expect(await first).toBe('w0');
    expect(await Promise.all(rest)).toEqual(['w1', 'w2', 'w3', 'w4', 'w5']);
    expect(r.batches).toEqual([[0], [1, 2, 3, 4, 5]]);
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
    expect(r.batches.map((b) => b.length).sort()).toEqual([1, 1, 2, 3, 3]);
    expect(r.batches.flat().sort((a, b) => a - b)).toEqual([...Array(10).keys()]);
  });

  it('refuses a write past maxQueued with a 503, and writes the ones it took', async () => {
    const r = recorder({ maxQueued: 2 });
    const taken = [r.gc.submit(1), r.gc.submit(2), r.gc.submit(3)]; // 1 in flight, 2 and 3 waiting
    await expect(r.gc.submit(4)).rejects.toSatisfy((e) => e instanceof AppError && e.status === 503);
    r.open();
    expect(await Promise.all(taken)).toEqual(['w1', 'w2', 'w3']);
  });

  it('writes each item alone when PostgreSQL refused the batch, so only the bad one fails', async () => {
    const calls: number[][] = [];
    const gc = numbers({
      write: async (items) => {
        calls.push(items);
        if (items.includes(2)) throw refused();
        return items.map((i) => i * 10);
      },
    });
    const hold = gc.submit(0); // in flight while 1, 2, 3 queue
    const results = await Promise.allSettled([1, 2, 3].map((i) => gc.submit(i)));
    expect(await hold).toBe(0);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))).toEqual([10, 30]);
    expect(calls).toEqual([[0], [1, 2, 3], [1], [2], [3]]);
  });

  it('retries a refused batch at most two items at a time (the pool is shared)', async () => {
    let running = 0;
    let most = 0;
    const gc = numbers({
      write: async (items) => {
        if (items.length > 1) throw refused();
        running += 1;
        most = Math.max(most, running);
        await tick();
        running -= 1;
        return items;
      },
    });
    const hold = gc.submit(0);
    expect(await Promise.all([1, 2, 3, 4, 5, 6].map((i) => gc.submit(i)))).toEqual([1, 2, 3, 4, 5, 6]);
    await hold;
    expect(most).toBe(2);
  });

  it('does not retry a batch whose outcome is unknown (a socket error): every item gets the error', async () => {
    // A 5-letter errno is not a SQLSTATE: only what PostgreSQL itself reported counts as refused.
    const lost = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
    const calls: number[][] = [];
    const gc = numbers({
      write: async (items) => {
        calls.push(items);
        if (items.length > 1) throw lost;
        return items;
      },
    });
    const hold = gc.submit(0);
    const results = await Promise.allSettled([1, 2].map((i) => gc.submit(i)));
    await hold;
    expect(results).toEqual([
      { status: 'rejected', reason: lost },
      { status: 'rejected', reason: lost },
    ]);
    expect(calls).toEqual([[0], [1, 2]]);
  });

  it('fails every item, guessing none, when a batch returns the wrong number of results', async () => {
    const gc = numbers({
      write: async (items) => (items.length > 1 ? items.slice(1) : items),
    });
    const hold = gc.submit(0);
    const results = await Promise.allSettled([1, 2].map((i) => gc.submit(i)));
    await hold;
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(/returned 1 results for 2 items/);
  });

  it('gives a lone write its own error, PostgreSQL refusal or not, without a retry', async () => {
    let calls = 0;
    const gc = numbers({
      write: async () => {
        calls += 1;
        throw refused();
      },
    });
    await expect(gc.submit(1)).rejects.toThrow('check violation');
    expect(calls).toBe(1);
  });

  it('refuses bounds that are not positive integers', () => {
    const write = async () => [];
    for (const bad of [0, -1, 1.5, NaN])
      expect(() => new GroupCommit({ write, maxBatch: bad, maxInFlight: 1, maxQueued: 1 })).toThrow(
        /maxBatch/,
      );
  });
});
