import { createClient } from 'redis';
import type { Logger } from 'pino';

export type RedisClient = ReturnType<typeof createClient>;
export type RedisState = 'up' | 'down' | 'in_memory';

/**
 * The Valkey connection. Without a URL there is no client and callers use their in-memory
 * stand-ins. With one, the client reconnects forever with backoff and fails commands at once
 * while disconnected (no offline queue), so a Valkey outage degrades the broker instead of
 * stalling requests.
 */
export class RedisHandle {
  readonly client: RedisClient | undefined;

  constructor(
    url: string | undefined,
    private readonly logger: Logger,
  ) {
    if (!url) return;
    this.client = createClient({
      url,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: 2000,
        reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 2000),
      },
    });
    let wasDown = false;
    this.client.on('error', (err: Error) => {
      if (!wasDown) logger.warn({ err: err.message }, 'valkey unavailable; degraded until it returns');
      wasDown = true;
    });
    this.client.on('ready', () => {
      if (wasDown) logger.info('valkey connection restored');
      wasDown = false;
    });
  }

  /** Starts connecting; never throws (the client keeps retrying in the background). */
  async connect(timeoutMs = 2000): Promise<void> {
    if (!this.client) return;
    const connecting = this.client.connect().catch(() => undefined);
    await Promise.race([connecting, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  get ready(): boolean {
    return this.client?.isReady === true;
  }

  async state(): Promise<RedisState> {
    if (!this.client) return 'in_memory';
    if (!this.client.isReady) return 'down';
    try {
      await this.client.ping();
      return 'up';
    } catch {
      return 'down';
    }
  }

  async close(): Promise<void> {
    if (!this.client) return;
    try {
      if (this.client.isOpen) await this.client.close();
    } catch (err) {
      this.logger.debug({ err }, 'valkey close');
      this.client.destroy();
    }
  }
}
