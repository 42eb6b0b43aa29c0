import {
  JSONCodec,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type NatsConnection,
  type Subscription,
} from 'nats';
import type { Logger } from 'pino';
import type { StoredEvent } from './event-repository.js';
import type { NatsHandle } from './nats.js';

export const STREAM = 'AINP_EVENTS';
const SUBJECTS = 'ainp.events.>';
/**
 * A message is the event with `numbered: true`: its id is its number (migration 0010). Messages a
 * release before it publishes (during a rolling upgrade) carry insert ids instead and lack it.
 */
type Message = StoredEvent & { numbered?: true };
const codec = JSONCodec<Message>();

/** What the stream must be: file storage, 7 days, a 10-minute duplicate window, `replicas` copies. */
export function streamConfig(replicas: number) {
  return {
    name: STREAM,
    subjects: [SUBJECTS],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: 7 * 24 * 3600 * 1e9,
    duplicate_window: 10 * 60 * 1e9,
    num_replicas: replicas,
  };
}

/**
 * The JetStream side of the outbox: the stream AINP_EVENTS (streamConfig: its replica count from
 * NATS_STREAM_REPLICAS) and the subject every broker process listens on.
 */
export class EventStream {
  private sub: Subscription | undefined;
  private streamReady = false;
  /** The JetStream client of the current connection, made once rather than per publish. */
  private js: { nc: NatsConnection; client: JetStreamClient } | undefined;

  constructor(
    private readonly nats: NatsHandle,
    private readonly opts: { replicas?: number; logger?: Logger } = {},
  ) {}

  /** True while a NATS connection is up; otherwise events go from the database to sockets. */
  get connected(): boolean {
    return this.nats.connection !== undefined;
  }

  /**
   * Subscribes `onEvent` (again after a reconnect) and creates the stream if it is missing. True
   * when it subscribed now: what was published before is not delivered to this subscription.
   * `numbered` is false for a message from a release that numbered nothing (see Message).
   */
  async ready(onEvent: (e: StoredEvent, numbered: boolean) => void): Promise<boolean> {
    const nc = this.nats.connection!;
    let subscribed = false;
    if (!this.sub || this.sub.isClosed()) {
      this.sub = nc.subscribe(SUBJECTS, {
        callback: (err, msg) => {
          if (err) return;
          let message: Message;
          try {
            message = codec.decode(msg.data);
          } catch {
            return; // not JSON: not one of ours
          }
          const { numbered, ...e } = message;
          onEvent(e, numbered === true && typeof e.id === 'string' && /^\d{1,18}$/.test(e.id));
        },
      });
      subscribed = true;
    }
    if (this.streamReady) return subscribed;
    const jsm = await nc.jetstreamManager();
    const want = streamConfig(this.opts.replicas ?? 1);
    const info = await jsm.streams.info(STREAM).catch(() => undefined);
    if (!info) await jsm.streams.add(want);
    else await this.converge(jsm, info.config as unknown as Record<string, unknown>, want);
    this.streamReady = true;
    return subscribed;
  }

  /**
   * Brings an existing stream (made by an earlier release, or with fewer replicas) to `want` in
   * place: its messages stay. A change the server refuses or does not apply (more replicas than a
   * single server holds, a storage type) is logged, and the stream serves on as it is.
   */
  private async converge(
    jsm: Awaited<ReturnType<NatsConnection['jetstreamManager']>>,
    have: Record<string, unknown>,
    want: ReturnType<typeof streamConfig>,
  ): Promise<void> {
    const differing = (config: Record<string, unknown>) =>
      Object.entries(want)
        .filter(([k, v]) => JSON.stringify(config[k]) !== JSON.stringify(v))
        .map(([k]) => k);
    const changed = differing(have);
    if (!changed.length) return;
    let after = have;
    let err: string | undefined;
    try {
      after = (await jsm.streams.update(STREAM, { ...have, ...want })).config as unknown as Record<
        string,
        unknown
      >;
    } catch (e) {
      err = (e as Error).message;
    }
    const kept = differing(after);
    if (!kept.length)
      return void this.opts.logger?.info({ stream: STREAM, changed }, 'jetstream stream updated in place');
    this.opts.logger?.warn(
      {
        stream: STREAM,
        changed: kept,
        err: err ?? `the server kept ${kept.map((k) => `${k} ${JSON.stringify(after[k])}`).join(', ')}`,
      },
      'jetstream stream not updated; it keeps its current config',
    );
  }

  /** Resolves once the server has processed everything sent so far (a new subscription included). */
  async flush(): Promise<void> {
    await this.nats.connection!.flush();
  }

  /** After a failed pass: check (and recreate) the stream before the next publish. */
  reset(): void {
    this.streamReady = false;
  }

  /** Publishes with event_id as the message id, so a retried publish is dropped as a duplicate. */
  async publish(e: StoredEvent): Promise<void> {
    const nc = this.nats.connection!;
    if (this.js?.nc !== nc) this.js = { nc, client: nc.jetstream() };
    await this.js.client.publish(`ainp.events.${e.type}`, codec.encode({ ...e, numbered: true }), {
      msgID: e.event_id,
    });
  }

  close(): void {
    this.sub?.unsubscribe();
  }
}
