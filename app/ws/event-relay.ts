import type { AppContext } from '../context.js';
import { withTransaction } from '../data/db.js';
import { EventNotifications } from '../data/event-notifications.js';
import {
  claimUnpublished,
  eventsAfter,
  latestEventId,
  markPublished,
  numberEvents,
  tryPublisherLock,
} from '../data/event-repository.js';
import { EventStream } from '../data/event-stream.js';
import { invalidation } from '../data/local-cache.js';
import { DeliveredNumbers } from './delivered-numbers.js';
import type { StoredEvent } from '../data/event-repository.js';
import type { Hub } from './hub.js';

/** Consecutive failed passes before the relay logs at warn (about this many seconds of trouble). */
const WARN_AFTER_FAILURES = 5;
const BATCH = 100;
/** Events numbered per statement, and at most this many statements per pass (then another pass). */
const NUMBER_BATCH = 500;
const NUMBER_ROUNDS = 10;
/** Events read from the database per query, and at most this many queries per pass. */
const DATABASE_PAGE = 500;
const DATABASE_PAGES = 10;

/**
 * Numbers the events that have committed (their public id, in the order they became visible: see
 * numberEvents), then moves them from the outbox to JetStream in number order (event_id as the
 * message id, so a retried publish is dropped by the stream's duplicate window), moving the
 * published cursor in the same transaction that read them. Every broker process listens on the subject
 * and hands events to its sockets. While NATS is unreachable here the relay reads the numbered
 * events after the last one it handed on from the database and hands them to local sockets
 * directly; once NATS is back the unpublished ones are published and the sockets' seen-sets keep
 * them from arriving twice.
 *
 * It also feeds the process's read cache: `cache.invalidate` events drop what they name, and the
 * cache answers only while this feed is known to carry every event (see LocalCache).
 */
export class EventRelay {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  private readonly stream: EventStream;
  /** What has been handed on here; where reading from the database starts. */
  private readonly delivered = new DeliveredNumbers();
  /** NATS may have dropped events (a reconnect, a new subscription): read what was missed. */
  private refill = true;
  private readonly notifications: EventNotifications | undefined;
  private again = false;
  private failures = 0;

  constructor(
    private readonly ctx: AppContext,
    private readonly hub: Hub,
    /** The fallback poll; commits wake the relay at once through LISTEN/NOTIFY. */
    private readonly intervalMs = 1000,
  ) {
    this.stream = new EventStream(ctx.nats, { replicas: ctx.env.NATS_STREAM_REPLICAS, logger: ctx.logger });
    const url = ctx.env.DATABASE_URL;
    this.notifications = url ? new EventNotifications(url, () => void this.tick()) : undefined;
    // A disconnect or reconnect may lose events: the cache stops at once, until the next pass
    // has subscribed again and read what was missed from the database.
    ctx.nats.onChange(() => {
      ctx.localCache.setLive(false);
      this.refill = true;
    });
  }

  /**
   * Hands an event on once, whether it came through NATS or from the database. An event from a
   * release that numbered nothing (a rolling upgrade) is handed on without being counted: its id
   * is not a number (the sockets' seen-sets still keep it from arriving twice).
   */
  private deliver(e: StoredEvent, numbered = true): void {
    if (numbered && !this.delivered.accept(e.id)) return;
    // A number skipped: NATS lost or reordered something; the next pass reads it from the database.
    if (this.delivered.gap) void this.tick();
    const drop = invalidation(e);
    if (!drop) this.hub.dispatch(e);
    else if ('all' in drop) this.ctx.localCache.clear();
    else this.ctx.localCache.invalidate(drop.keys);
  }

  /**
   * Database delivery starts after what exists now: older events are for resume only. Never
   * rejects: with the database unreachable (or not yet migrated) the cursor is read on a later pass.
   */
  start(): void {
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
    void this.readCursor().catch(() => undefined);
    this.notifications?.start();
  }

  private async readCursor(): Promise<void> {
    if (this.delivered.started) return;
    this.delivered.start(await latestEventId(this.ctx.db));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.ctx.localCache.setLive(false);
    if (this.timer) clearInterval(this.timer);
    this.stream.close();
    await this.notifications?.close();
    while (this.running) await new Promise((r) => setTimeout(r, 10));
  }

  /** One pass; never throws (a failed pass is retried on the next tick). */
  async tick(): Promise<void> {
    if (this.stopped) return;
    if (this.running) {
      this.again = true; // a commit arrived mid-pass: run once more right after
      return;
    }
    this.running = true;
    this.again = false;
    try {
      // The starting point first: nothing is handed on before it is known.
      await this.readCursor();
      await this.numberEvents();
      if (this.stream.connected) {
        if (await this.stream.ready((e, numbered) => this.deliver(e, numbered))) this.refill = true;
        await this.publishBatch();
        if (this.refill || this.delivered.gap) {
          // Whatever NATS did not bring (published while this process was not subscribed, or
          // dropped): from the database, once the server has the subscription.
          this.refill = false;
          await this.stream.flush();
          await this.deliverFromDatabase();
        }
        this.ctx.localCache.setLive(true);
      } else {
        // Every numbered event comes from the database, whoever publishes it. The cache stays on
        // only without NATS at all (one process): with NATS down here, as before, it stays off.
        this.ctx.localCache.setLive(this.ctx.nats.state() === 'in_process');
        await this.deliverFromDatabase();
      }
      if (this.failures >= WARN_AFTER_FAILURES)
        this.ctx.logger.info({ failures: this.failures }, 'event relay recovered');
      this.failures = 0;
    } catch (err) {
      this.failures += 1;
      this.refill = true;
      this.ctx.localCache.setLive(false);
      this.stream.reset();
      // One failed pass is routine (a NATS or database blip, retried next tick); a relay that keeps
      // failing means events are not reaching sockets: warn at the fifth failed pass in a row, then
      // at every 60th (about once a minute at the 1 s poll).
      const keepsFailing =
        this.failures >= WARN_AFTER_FAILURES && (this.failures - WARN_AFTER_FAILURES) % 60 === 0;
      this.ctx.logger[keepsFailing ? 'warn' : 'debug'](
        { err: (err as Error).message, failures: this.failures },
        'event relay pass failed',
      );
    } finally {
      this.running = false;
    }
    if (this.again) void this.tick();
  }

  /** Numbers what has committed; a backlog larger than one pass's share gets another pass at once. */
  private async numberEvents(): Promise<void> {
    for (let round = 0; round < NUMBER_ROUNDS; round++)
      if ((await numberEvents(this.ctx.db, NUMBER_BATCH)) < NUMBER_BATCH) return;
    this.again = true;
  }

  private async publishBatch(): Promise<void> {
    for (let more = true; more && !this.stopped;) {
      const published = await withTransaction(this.ctx.db, async (tx) => {
        // One publisher at a time across replicas, so the stream (and every socket) sees events
        // in number order; the others skip this pass.
        if (!(await tryPublisherLock(tx))) return 0;
        const events = await claimUnpublished(tx, BATCH);
        // Pipelined on the one connection: sent in number order (the server stores them so), acked
        // together. If one fails the batch stays unpublished, and the stream's duplicate window
        // drops the ones that had arrived when it is sent again.
        await Promise.all(events.map((e) => this.stream.publish(e)));
        if (events.length) await markPublished(tx, events[events.length - 1]!.id);
        return events.length;
      });
      if (published) this.ctx.metrics.eventsPublished.inc(published);
      more = published === BATCH;
    }
  }

  /**
   * Every numbered event after what was handed on, published or not (with NATS down here, events
   * other replicas publish do not arrive here either), a bounded number of pages per pass.
   */
  private async deliverFromDatabase(): Promise<void> {
    for (let page = 0; page < DATABASE_PAGES; page++) {
      const events = await eventsAfter(this.ctx.db, this.delivered.after, DATABASE_PAGE);
      if (!events.length) return;
      this.delivered.skipTo(events[0]!.id);
      for (const e of events) this.deliver(e);
      // With no NATS configured at all there is nothing to drain to: delivered is published.
      if (this.ctx.nats.state() === 'in_process')
        await markPublished(this.ctx.db, events[events.length - 1]!.id);
      if (events.length < DATABASE_PAGE) return;
    }
    this.again = true;
  }
}
