import { connect, type NatsConnection } from 'nats';
import type { Logger } from 'pino';

export type NatsState = 'up' | 'down' | 'in_process';

/**
 * Connection options for a NATS_URL. nats.js ignores credentials in the URL, so they are taken
 * out here: `nats://TOKEN@host:4222` authenticates with a token, `nats://user:pass@host:4222`
 * with a user and password. The server list keeps no credentials (it is logged).
 */
export function natsConnectOptions(url: string): {
  servers: string;
  token?: string;
  user?: string;
  pass?: string;
} {
  const u = new URL(url);
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  u.username = '';
  u.password = '';
  const servers = u.toString().replace(/\/$/, '');
  if (user && pass) return { servers, user, pass };
  if (user) return { servers, token: user };
  return { servers };
}

/**
 * The NATS connection. With a URL it connects in the background and reconnects forever, so a NATS
 * server that is down at start or goes away later degrades the broker instead of stopping it.
 * Without a URL the broker runs on in-process delivery and reports `in_process` (degraded).
 */
export class NatsHandle {
  private nc: NatsConnection | undefined;
  private up = false;
  private closed = false;
  private readonly connecting: Promise<void> | undefined;
  private readonly listeners: Array<(state: NatsState) => void> = [];

  constructor(
    private readonly url: string | undefined,
    private readonly logger: Logger,
  ) {
    if (url) this.connecting = this.connectInBackground(url);
  }

  private async connectInBackground(url: string): Promise<void> {
    // waitOnFirstConnect: a server that is down at start is retried rather than failing connect().
    const nc = await connect({
      ...natsConnectOptions(url),
      name: 'ainp-broker',
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      waitOnFirstConnect: true,
      timeout: 2000,
      // Every request (each JetStream publish is one) would otherwise capture a stack trace in case
      // it times out: an Error built per event, measurable on the attestation path. A timeout
      // still fails with its code and message, only without the caller's stack.
      noAsyncTraces: true,
    }).catch((err: Error) => {
      this.logger.warn({ err: err.message }, 'nats connect failed');
      return undefined;
    });
    if (!nc) return;
    if (this.closed) return void (await nc.close());
    this.nc = nc;
    this.up = true;
    this.logger.info({ server: nc.getServer() }, 'nats connected');
    void this.watch(nc);
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.up = false;
        this.notify();
        this.logger.warn('nats disconnected; degraded until it returns');
      } else if (s.type === 'reconnect') {
        this.up = true;
        this.notify();
        this.logger.info('nats reconnected');
      }
    }
  }

  /** Calls `listener` on every disconnect and reconnect (messages may have been missed). */
  onChange(listener: (state: NatsState) => void): void {
    this.listeners.push(listener);
  }

  private notify(): void {
    for (const listener of this.listeners) listener(this.state());
  }

  /** Waits up to `timeoutMs` for the first connection; never throws. */
  async connect(timeoutMs = 2000): Promise<void> {
    if (!this.connecting) return;
    await Promise.race([this.connecting, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  get connection(): NatsConnection | undefined {
    return this.up ? this.nc : undefined;
  }

  state(): NatsState {
    if (!this.url) return 'in_process';
    return this.up && this.nc && !this.nc.isClosed() ? 'up' : 'down';
  }

  async close(): Promise<void> {
    this.closed = true;
    const nc = this.nc;
    this.up = false;
    if (nc && !nc.isClosed()) await nc.drain().catch(() => nc.close());
  }
}
