import { JSONCodec, RetentionPolicy, StorageType, type Subscription } from 'nats';
import type { StoredEvent } from './event-repository.js';
import type { NatsHandle } from './nats.js';

export const STREAM = 'AINP_EVENTS';
const SUBJECTS = 'ainp.events.>';
const codec = JSONCodec<StoredEvent>();

/**
 * The JetStream side of the outbox: the stream AINP_EVENTS (file storage, 7 days, a 10-minute
 * duplicate window keyed by event_id) and the subject every broker process listens on.
 */
export class EventStream {
  private sub: Subscription | undefined;
  private streamReady = false;

  constructor(private readonly nats: NatsHandle) {}

  /** True while a NATS connection is up; otherwise events go from the database to sockets. */
  get connected(): boolean {
    return this.nats.connection !== undefined;
  }

  /** Subscribes `onEvent` (again after a reconnect) and creates the stream if it is missing. */
  async ready(onEvent: (e: StoredEvent) => void): Promise<void> {
    const nc = this.nats.connection!;
    if (!this.sub || this.sub.isClosed()) {
      this.sub = nc.subscribe(SUBJECTS, {
        callback: (err, msg) => {
          if (!err) onEvent(codec.decode(msg.data));
        },
      });
    }
    if (this.streamReady) return;
    const jsm = await nc.jetstreamManager();
    try {
      await jsm.streams.info(STREAM);
    } catch {
      await jsm.streams.add({
        name: STREAM,
        subjects: [SUBJECTS],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        max_age: 7 * 24 * 3600 * 1e9,
        duplicate_window: 10 * 60 * 1e9,
      });
    }
    this.streamReady = true;
  }

  /** After a failed pass: check (and recreate) the stream before the next publish. */
  reset(): void {
    this.streamReady = false;
  }

  /** Publishes with event_id as the message id, so a retried publish is dropped as a duplicate. */
  async publish(e: StoredEvent): Promise<void> {
    await this.nats.connection!.jetstream().publish(`ainp.events.${e.type}`, codec.encode(e), {
      msgID: e.event_id,
    });
  }

  close(): void {
    this.sub?.unsubscribe();
  }
}
