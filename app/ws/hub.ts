import type { WebSocket } from 'ws';
import type { StoredEvent } from '../data/event-repository.js';
import type { Metrics } from '../metrics.js';

/** WebSocket close codes used by the broker. */
export const CLOSE = {
  goingAway: 1001,
  policyViolation: 1008,
  tryAgainLater: 1013,
  slowConsumer: 1013,
} as const;
const MAX_BUFFERED_BYTES = 1024 * 1024;
const SEEN_PER_CONNECTION = 5000;

export interface Connection {
  ws: WebSocket;
  /** Who connected: `key:<api key id>` or `did:<did>`; the per-identity cap counts these. */
  principal: string;
  /** The API key it connected with, if any: its sockets close when it is revoked. */
  apiKeyId?: string;
  identities: string[];
  /** Event ids already sent: an event can arrive from NATS and from the database; it is sent once. */
  seen: Set<string>;
  /**
   * Live events that arrived while the events missed before a reconnect were being read: sent
   * after those, so a resumed client gets every event in number order.
   */
  held?: StoredEvent[];
}

/** Routes each event to the sockets of its recipients in this process. */
export class Hub {
  private readonly byIdentity = new Map<string, Set<Connection>>();
  /** Sockets open or being opened per principal, claimed before the upgrade completes. */
  private readonly claims = new Map<string, number>();

  constructor(private readonly metrics: Metrics) {}

  /** Claims one of `max` connection slots for `principal`; false when all are taken. */
  claim(principal: string, max: number): boolean {
    const n = this.claims.get(principal) ?? 0;
    if (n >= max) return false;
    this.claims.set(principal, n + 1);
    return true;
  }

  release(principal: string): void {
    const n = (this.claims.get(principal) ?? 1) - 1;
    if (n > 0) this.claims.set(principal, n);
    else this.claims.delete(principal);
  }

  add(c: Connection): void {
    for (const id of c.identities) {
      let set = this.byIdentity.get(id);
      if (!set) this.byIdentity.set(id, (set = new Set()));
      set.add(c);
    }
    this.metrics.wsConnections.inc();
  }

  remove(c: Connection): void {
    for (const id of c.identities) {
      const set = this.byIdentity.get(id);
      set?.delete(c);
      if (set?.size === 0) this.byIdentity.delete(id);
    }
    this.metrics.wsConnections.dec();
  }

  dispatch(e: StoredEvent): void {
    const targets = new Set<Connection>();
    for (const r of e.recipients) for (const c of this.byIdentity.get(r) ?? []) targets.add(c);
    for (const c of targets) {
      if (c.held) c.held.push(e);
      else send(c, e, this.metrics);
    }
  }

  all(): Connection[] {
    return [...new Set([...this.byIdentity.values()].flatMap((s) => [...s]))];
  }
}

/**
 * Sends once per connection. A consumer that lets more than 1 MiB pile up is closed with 1013
 * (try again later) instead of growing the broker's memory; it resumes with its last event id.
 */
export function send(c: Connection, e: StoredEvent, metrics: Metrics): void {
  if (c.seen.has(e.event_id) || c.ws.readyState !== c.ws.OPEN) return;
  if (c.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
    c.ws.close(CLOSE.slowConsumer, 'slow consumer: reconnect with last_event_id');
    return;
  }
  c.seen.add(e.event_id);
  if (c.seen.size > SEEN_PER_CONNECTION) c.seen.delete(c.seen.values().next().value!);
  c.ws.send(
    JSON.stringify({
      id: e.id,
      event_id: e.event_id,
      type: e.type,
      payload: e.payload,
      created_at: e.created_at,
    }),
  );
  metrics.eventsDelivered.inc();
}
