import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AppContext } from '../context.js';
import type { UpgradeGuards } from '../http/app.js';
import { ipKey } from '../http/middleware/rate-limit.js';
import { findActiveApiKeyByHash, revokedAmong } from '../data/api-key-repository.js';
import { eventsSince, ownedAgentDids } from '../data/event-repository.js';
import { hashApiKey } from '../domain/api-keys.js';
import { AppError } from '../errors.js';
import { signatureNonces, verifySignedRequest } from '../services/signature-service.js';
import { EventRelay } from './event-relay.js';
import { CLOSE, Hub, send, type Connection } from './hub.js';

/**
 * How long shutdown waits for clients to answer the closing handshake before it cuts their sockets.
 * ws itself would wait 30 s, and an upgraded socket is outside the HTTP server's bound
 * (closeAllConnections never sees it) while it keeps server.close() from finishing.
 */
export const CLOSE_HANDSHAKE_MS = 1000;

export interface Realtime {
  hub: Hub;
  relay: EventRelay;
  close(): Promise<void>;
}

/**
 * `GET /ws`: authenticated at the upgrade by an API key (its address and the DIDs of the agents it
 * owns) or a DID signature over `GET /ws...` with an empty body. A client resumes with
 * `?last_event_id=N` (or the Last-Event-ID header): it first gets what it missed, then live ones.
 * A resume sends at most WS_RESUME_LIMIT (1,000) missed events on one connection: when more are
 * waiting it sends that many, then closes with 1013 and the reason `resume continues: reconnect
 * with last_event_id=<the last one sent>`, so a client away for long pages through what it missed
 * and never loses an event silently. A ping every WS_PING_INTERVAL_MS; a connection that missed a pong is
 * dropped. Shutdown closes every socket with 1001.
 *
 * Each API key or DID holds at most WS_MAX_CONNECTIONS_PER_IDENTITY sockets on a replica (429
 * beyond). Each client IP may connect RATE_LIMIT_WS_CONNECT times a window, and its refused
 * connects count against RATE_LIMIT_AUTH_FAILURE with the HTTP routes' (429 beyond either). Every WS_REVOCATION_CHECK_MS each replica asks the database which of its sockets' keys
 * were revoked and closes those with 1008, so a revocation reaches every replica within that
 * period, NATS or not.
 */
export function attachRealtime(ctx: AppContext, server: Server, guards: UpgradeGuards): Realtime {
  const hub = new Hub(ctx.metrics);
  const relay = new EventRelay(ctx, hub);
  relay.start();
  const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 });
  const nonces = signatureNonces(ctx.redis);
  const alive = new WeakMap<WebSocket, boolean>();

  type Identified = Pick<Connection, 'principal' | 'apiKeyId' | 'identities'>;
  const identify = async (req: IncomingMessage): Promise<Identified> => {
    const header = (n: string) => {
      const v = req.headers[n.toLowerCase()];
      return Array.isArray(v) ? v[0] : v;
    };
    if (header('x-ainp-did')) {
      const did = await verifySignedRequest(nonces, { method: 'GET', url: req.url ?? '/ws', header });
      return { principal: `did:${did}`, identities: [did] };
    }
    const bearer = /^Bearer\s+(.+)$/i.exec(header('authorization') ?? '')?.[1];
    const presented = header('x-api-key') ?? bearer;
    if (!presented) throw AppError.unauthorized('An API key or a DID signature is required to connect');
    const key = await findActiveApiKeyByHash(ctx.db, hashApiKey(presented.trim()));
    if (!key) throw AppError.unauthorized('Unknown or revoked API key');
    const identities = [key.address, ...(await ownedAgentDids(ctx.db, key.address))];
    return { principal: `key:${key.id}`, apiKeyId: key.id, identities };
  };
  const max = ctx.env.WS_MAX_CONNECTIONS_PER_IDENTITY;

  /** Over a limit: the 429 body the HTTP limiters send. */
  const overLimit = (limiter: UpgradeGuards['wsConnect'], what: string, resetTime: Date | undefined) => {
    const reset = resetTime ? Math.max(0, Math.ceil((resetTime.getTime() - Date.now()) / 1000)) : 0;
    return new AppError(
      429,
      'RATE_LIMIT_EXCEEDED',
      `Rate limit of ${limiter.limit} ${what} per ${limiter.windowMs / 1000} s exceeded`,
      undefined,
      { retry_after: reset, limit: limiter.limit, remaining: 0, reset },
    );
  };
  /**
   * The client IP's connect and refused-authentication budgets first (each connect counts; a refusal
   * stays counted, a success is given back), then the credentials.
   */
  const admitAndIdentify = async (req: IncomingMessage): Promise<Identified> => {
    const ip = ipKey(guards.clientIp(req));
    const connects = await guards.wsConnect.store.increment(ip);
    if (connects.totalHits > guards.wsConnect.limit)
      throw overLimit(guards.wsConnect, 'WebSocket connects', connects.resetTime);
    const failures = await guards.authFailure.store.increment(ip);
    if (failures.totalHits > guards.authFailure.limit)
      throw overLimit(guards.authFailure, 'refused authentications', failures.resetTime);
    const who = await identify(req);
    await guards.authFailure.store.decrement(ip);
    return who;
  };

  const refuse = (socket: Duplex, status: number, body: unknown) => {
    const json = JSON.stringify(body);
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`,
    );
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/ws')
      return refuse(socket, 404, { error: 'NOT_FOUND', message: `No WebSocket at ${url.pathname}` });
    if (ctx.state.draining) return refuse(socket, 503, { error: 'UNAVAILABLE', message: 'Shutting down' });
    admitAndIdentify(req).then(
      (who) => {
        if (!hub.claim(who.principal, max))
          return refuse(socket, 429, {
            error: 'RATE_LIMIT_EXCEEDED',
            message: `At most ${max} WebSocket connections per API key or DID`,
          });
        socket.once('close', () => hub.release(who.principal));
        wss.handleUpgrade(req, socket, head, (ws) => void open(ws, who, url, req));
      },
      (err: unknown) => {
        const e = err instanceof AppError ? err : AppError.unauthorized('Authentication failed');
        refuse(socket, e.status, { error: e.code, message: e.message, ...e.extra });
      },
    );
  };

  const open = async (ws: WebSocket, who: Identified, url: URL, req: IncomingMessage) => {
    const last =
      url.searchParams.get('last_event_id') ?? (req.headers['last-event-id'] as string | undefined);
    const resume = last !== undefined && /^\d{1,18}$/.test(last) ? last : undefined;
    const conn: Connection = { ws, ...who, seen: new Set(), ...(resume ? { held: [] } : {}) };
    alive.set(ws, true);
    ws.on('pong', () => alive.set(ws, true));
    ws.on('close', () => hub.remove(conn));
    ws.on('error', () => ws.terminate());
    ws.on('message', () => undefined); // clients only listen; frames are ignored
    hub.add(conn);
    if (!resume) return;
    const limit = ctx.env.WS_RESUME_LIMIT;
    try {
      const missed = await eventsSince(ctx.db, who.identities, resume, limit + 1);
      for (const e of missed.slice(0, limit)) send(conn, e, ctx.metrics);
      if (missed.length > limit) {
        // More are waiting than one resume sends: live events would leave a gap behind them.
        ws.close(
          CLOSE.tryAgainLater,
          `resume continues: reconnect with last_event_id=${missed[limit - 1]!.id}`,
        );
        return;
      }
    } catch (err) {
      // The missed events cannot be read now: the client reconnects with the same id later.
      ctx.logger.warn({ err: (err as Error).message }, 'websocket resume failed');
      ws.close(CLOSE.tryAgainLater, 'resume failed: reconnect with last_event_id');
    }
    const held = conn.held ?? [];
    delete conn.held;
    for (const e of held) send(conn, e, ctx.metrics);
  };

  server.on('upgrade', onUpgrade);
  const pinger = setInterval(() => {
    for (const c of hub.all()) {
      if (!alive.get(c.ws)) {
        c.ws.terminate();
        continue;
      }
      alive.set(c.ws, false);
      c.ws.ping();
    }
  }, ctx.env.WS_PING_INTERVAL_MS);
  pinger.unref();
  const revocations = setInterval(() => {
    closeRevoked().catch((err: unknown) => ctx.logger.warn({ err }, 'checking for revoked API keys failed'));
  }, ctx.env.WS_REVOCATION_CHECK_MS);
  revocations.unref();
  const closeRevoked = async () => {
    const byKey = new Map<string, Connection[]>();
    for (const c of hub.all()) if (c.apiKeyId) byKey.set(c.apiKeyId, [...(byKey.get(c.apiKeyId) ?? []), c]);
    const ids = [...byKey.keys()];
    for (let i = 0; i < ids.length; i += 1000)
      for (const id of await revokedAmong(ctx.db, ids.slice(i, i + 1000)))
        for (const c of byKey.get(id) ?? []) c.ws.close(CLOSE.policyViolation, 'API key revoked');
  };

  return {
    hub,
    relay,
    async close() {
      server.off('upgrade', onUpgrade);
      clearInterval(pinger);
      clearInterval(revocations);
      const open = hub.all();
      const closed = open.map((c) => new Promise((resolve) => c.ws.once('close', resolve)));
      for (const c of open) c.ws.close(CLOSE.goingAway, 'server shutting down');
      await relay.stop();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(closed),
        new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_HANDSHAKE_MS))),
      ]);
      clearTimeout(timer);
      // Whoever did not answer in time (a frozen client, a dead network path) is cut.
      const silent = hub.all();
      if (silent.length)
        ctx.logger.info({ sockets: silent.length }, 'websocket clients did not close in time: cut');
      for (const c of silent) c.ws.terminate();
      wss.close();
    },
  };
}
