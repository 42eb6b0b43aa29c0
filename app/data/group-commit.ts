import pg from 'pg';
import { AppError } from '../errors.js';

/**
 * Group commit for one kind of write. Writes that arrive while a batch is being written wait and
 * go together in the next batch: N concurrent writes cost one statement, one commit and one WAL
 * flush instead of N. There is no timer. A write that finds a free slot starts a batch at once, so
 * a lone request waits for nothing, and batches only form when writes already queue.
 *
 * Why: on this project's 2-core machine a registration's own transaction costs PostgreSQL
 * 830-1,300 µs of CPU, almost all of it per transaction (parse, commit, WAL flush, the wake-ups of
 * two processes). The same rows written 10 or 50 to a transaction cost 176-310 µs each (issue 16's
 * note has the measurement).
 *
 * What a batch write must keep:
 * - **Each write's own outcome.** `write` returns one result per item, in order. An expected
 *   refusal (a DID already bound, a closed receipt) is a result, not an error, so one refused
 *   write does not fail the others.
 * - **All or nothing.** If `write` fails with an error PostgreSQL reported (it carries a
 *   SQLSTATE), the statement rolled back whole. Each item is then written alone (a batch of one),
 *   so a bad item fails by itself, exactly as without batching. Any other error (the connection
 *   dropped, the reply was lost) may come after a commit. A retry could then write twice, so every
 *   item of the batch gets that error instead.
 * - **A batch waits for its slowest item**, e.g. one waiting on a receipt another request has
 *   locked. That is the cost of batching.
 * - **Bounds.** At most `maxBatch` items per batch and `maxInFlight` batches at once, each on one
 *   pooled connection; a refused batch's items are retried at most max(2, maxInFlight) at a time.
 *   At most `maxQueued` items wait; beyond that a write is refused with a 503 instead of queuing
 *   without end.
 */
export interface GroupCommitOptions<I, O> {
  /** Writes a batch of items (one or more) in one statement; one result per item, in order. */
  write: (items: I[]) => Promise<O[]>;
  maxBatch: number;
  maxInFlight: number;
  maxQueued: number;
  /** Called with the size of each batch written (a metric). */
  onBatch?: (size: number) => void;
  /** Called with the number of writes waiting whenever it changes (a metric). */
  onQueued?: (waiting: number) => void;
}

interface Pending<I, O> {
  item: I;
  resolve: (out: O) => void;
  reject: (err: unknown) => void;
}

/**
 * An error PostgreSQL reported for the statement (an ErrorResponse): the statement and its
 * implicit transaction rolled back, since the commit comes after it. A socket error is not one.
 */
const reportedByPostgres = (err: unknown) => err instanceof pg.DatabaseError;

export class GroupCommit<I, O> {
  private queue: Pending<I, O>[] = [];
  private inFlight = 0;

  constructor(private readonly opts: GroupCommitOptions<I, O>) {
    for (const k of ['maxBatch', 'maxInFlight', 'maxQueued'] as const)
      if (!Number.isSafeInteger(opts[k]) || opts[k] < 1) throw new Error(`${k} must be an integer >= 1`);
  }

  /** Writes `item` in the next batch; resolves with its result once that batch has committed. */
  submit(item: I): Promise<O> {
    if (this.queue.length >= this.opts.maxQueued)
      return Promise.reject(AppError.unavailable('Too many writes waiting; retry shortly'));
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.pump();
      this.opts.onQueued?.(this.queue.length);
    });
  }

  /** Writes not yet in a batch. */
  get queued() {
    return this.queue.length;
  }

  private pump() {
    while (this.inFlight < this.opts.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.opts.maxBatch);
      this.inFlight += 1;
      void this.write(batch).finally(() => {
        this.inFlight -= 1;
        this.pump();
        this.opts.onQueued?.(this.queue.length);
      });
    }
  }

  private async write(batch: Pending<I, O>[]) {
    try {
      this.opts.onBatch?.(batch.length);
      this.settle(batch, await this.opts.write(batch.map((p) => p.item)));
    } catch (err) {
      if (batch.length === 1 || !reportedByPostgres(err)) {
        for (const p of batch) p.reject(err);
        return;
      }
      // Refused whole: each alone, so only the bad one fails. At most maxInFlight at a time (the
      // pool is shared with every other request), and two or more, so that one item waiting on a
      // lock does not hold up the rest.
      const alone = batch.slice();
      const worker = async () => {
        for (let p = alone.shift(); p; p = alone.shift()) {
          try {
            this.settle([p], await this.opts.write([p.item]));
          } catch (e) {
            p.reject(e);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.max(2, this.opts.maxInFlight) }, worker));
    }
  }

  /** One result per item, or (a broken `write`, which has committed) an error to each: never a guess. */
  private settle(batch: Pending<I, O>[], results: O[]) {
    if (results.length !== batch.length) {
      const err = new Error(`batch write returned ${results.length} results for ${batch.length} items`);
      for (const p of batch) p.reject(err);
      return;
    }
    batch.forEach((p, i) => p.resolve(results[i]!));
  }
}
