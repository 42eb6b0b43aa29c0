import pg from 'pg';
import { EVENTS_CHANNEL } from './event-repository.js';

/**
 * A dedicated connection that LISTENs for commits that wrote outbox events (appendEvents NOTIFYs
 * at commit) and calls `onNotify` for each; after a lost connection it reconnects every `retryMs`
 * until closed. A pooled client cannot do this: LISTEN belongs to one session.
 */
export class EventNotifications {
  private client: pg.Client | undefined;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly onNotify: () => void,
    private readonly retryMs = 1000,
  ) {}

  start(): void {
    void this.connect();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.url, application_name: 'ainp-events' });
    client.on('notification', () => this.onNotify());
    client.on('error', () => undefined);
    client.on('end', () => {
      if (this.client === client) this.client = undefined;
      if (!this.closed) setTimeout(() => void this.connect(), this.retryMs).unref();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${EVENTS_CHANNEL}`);
      if (this.closed) return void (await client.end());
      this.client = client;
    } catch {
      await client.end().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.client?.end().catch(() => undefined);
  }
}
