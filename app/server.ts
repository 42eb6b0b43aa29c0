import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { Express } from 'express';
import { Server as NetServer, type AddressInfo, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { parseEnv, type Env } from './config/env.js';
import { closeContext, createContext, type AppContext } from './context.js';
import { createApp } from './http/app.js';
import { jobCatalogue } from './jobs/catalogue.js';
import type { JobDefinition } from './jobs/job.js';
import { startScheduler, type Scheduler } from './jobs/scheduler.js';
import { createLogger } from './logger.js';
import { migrateUp } from './migrate/runner.js';
import { attachRealtime, type Realtime } from './ws/ws-server.js';

export interface StartOptions {
  /** Environment variables; defaults to process.env. Tests pass their own. */
  env?: Record<string, string | undefined>;
  /** Jobs for the in-process schedule; defaults to the catalogue. */
  jobs?: JobDefinition[];
}

export interface RunningBroker {
  url: string;
  port: number;
  ctx: AppContext;
  server: Server;
  /** The Express app behind the server's request listener (which tries the hot reads first). */
  app: Express;
  realtime: Realtime;
  /** Drains and closes everything; safe to call more than once. */
  stop(): Promise<void>;
}

export function appVersion(env: Pick<Env, 'APP_VERSION'>): string {
  if (env.APP_VERSION) return env.APP_VERSION;
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    return pkg.version;
  } catch {
    // Built layout: dist/app/server.js sits one level deeper.
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    return pkg.version;
  }
}

/**
 * Starts the broker: clients, migrations when asked, HTTP server, in-process schedule when asked.
 * `PORT=0` picks a free port (tests read it from the result).
 */
export async function start(options: StartOptions = {}): Promise<RunningBroker> {
  const env = parseEnv(options.env ?? process.env);
  const logger = createLogger({ level: env.LOG_LEVEL, pretty: env.LOG_PRETTY });
  const ctx = await createContext(env, logger, appVersion(env));
  try {
    if (env.MIGRATE_ON_START) {
      const applied = await migrateUp(ctx.db, ctx.migrations);
      if (applied.length) logger.info({ applied }, 'migrations applied');
    }
  } catch (err) {
    await closeContext(ctx);
    throw err;
  }

  const { app, listener, upgrade } = createApp(ctx);
  // While draining, every answer closes its keep-alive connection (see shutdown's handover).
  const server = createServer((req, res) => {
    if (ctx.state.draining) res.setHeader('Connection', 'close');
    return listener(req, res);
  }).listen(env.PORT, env.HOST);
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await once(server, 'listening');
  // Keep-alive longer than typical load balancer idle timeouts, so they close first.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;

  const metricsServer =
    env.METRICS_PORT === undefined ? undefined : await serveMetrics(ctx, env.METRICS_PORT, env.HOST);
  const realtime = attachRealtime(ctx, server, upgrade);
  const scheduler: Scheduler | undefined = env.SCHEDULER_ENABLED
    ? startScheduler(ctx, options.jobs ?? jobCatalogue)
    : undefined;

  const port = (server.address() as AddressInfo).port;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= shutdown(ctx, server, sockets, scheduler, realtime).finally(() => metricsServer?.close()));
  logger.info({ port, version: ctx.version }, 'broker listening');
  return { url: `http://127.0.0.1:${port}`, port, ctx, server, app, realtime, stop };
}

/**
 * `GET /metrics` alone on its own port (METRICS_PORT): Prometheus scrapes it inside the cluster,
 * and the Service port an Ingress routes to has no /metrics at all (SPEC section 10).
 */
async function serveMetrics(ctx: AppContext, port: number, host: string): Promise<Server> {
  const metrics = createServer((req, res) => {
    if (req.method !== 'GET' || new URL(req.url ?? '/', 'http://x').pathname !== '/metrics') {
      res
        .writeHead(404, { 'Content-Type': 'application/json' })
        .end('{"error":"NOT_FOUND","message":"Only GET /metrics is served here"}');
      return;
    }
    ctx.metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'Content-Type': ctx.metrics.registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  metrics.listen(port, host);
  await once(metrics, 'listening');
  return metrics;
}

/**
 * How long closing the pools and clients may take once requests are done. The worst case is then
 * SHUTDOWN_TIMEOUT_MS + 4 s, inside main.ts's last resort (+5 s) and the pod's grace period
 * (helm: preStop sleep + drain bound + 10 s).
 */
const CLOSE_CLIENTS_MS = 3000;

/**
 * How long keep-alive clients get to go on their own before their idle connections are closed.
 * Closing an idle connection races with a request the client is sending on it at that moment: the
 * request gets no answer (npm run test:chaos saw a signed write fail so when a broker pod was
 * deleted under load, PDB and preStop notwithstanding). During the handover every answer says
 * `Connection: close`, so a busy client's connections close after an answer instead; only the
 * ones it left idle the whole time are closed after it. It ends early once no connection is open.
 */
const KEEPALIVE_HANDOVER_MS = 1500;

/**
 * Graceful shutdown, in one place: readiness goes false, WebSockets close (1001; clients that do
 * not answer within a second are cut), the listener stops taking connections, keep-alive clients
 * get a moment to go (KEEPALIVE_HANDOVER_MS), then idle keep-alive connections close, in-flight requests finish (bounded by SHUTDOWN_TIMEOUT_MS, after which the
 * remaining sockets are cut), the schedule waits for its runs (same bound), then pools and clients
 * close (bounded too). A step that outlives its bound is named in the log, and shutdown goes on.
 */
async function shutdown(
  ctx: AppContext,
  server: Server,
  sockets: Set<Socket>,
  scheduler: Scheduler | undefined,
  realtime: Realtime,
): Promise<void> {
  ctx.state.draining = true;
  ctx.logger.info('shutting down: draining in-flight requests');
  const deadline = Date.now() + ctx.env.SHUTDOWN_TIMEOUT_MS;
  // Within the drain bound: at most a second for the closing handshake, and the relay's last pass.
  await within(ctx, 'websockets', realtime.close(), 2000);
  // The listener stops taking connections. (net.Server's close: the HTTP server's own would also
  // close the idle keep-alive connections at once, which the handover keeps for a moment.)
  const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
  for (const end = Math.min(deadline, Date.now() + KEEPALIVE_HANDOVER_MS); sockets.size && Date.now() < end;)
    await new Promise((r) => setTimeout(r, 50));
  server.closeIdleConnections();
  const timer = setTimeout(
    () => {
      ctx.logger.warn('shutdown bound reached: closing remaining connections');
      server.closeAllConnections();
    },
    Math.max(0, deadline - Date.now()),
  );
  timer.unref();
  await Promise.all([
    closed,
    within(ctx, 'scheduled job runs', scheduler?.stop(), Math.max(0, deadline - Date.now()) + 1000),
  ]);
  clearTimeout(timer);
  await within(ctx, 'closing PostgreSQL, Valkey and NATS clients', closeContext(ctx), CLOSE_CLIENTS_MS);
  ctx.logger.info('shutdown complete');
}

/** Waits for `step` at most `ms`; past that, logs which step held shutdown and goes on. */
async function within(ctx: AppContext, what: string, step: Promise<unknown> | undefined, ms: number) {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
  const outcome = await Promise.race([Promise.resolve(step).catch(() => undefined), late]);
  clearTimeout(timer);
  if (outcome === 'late')
    ctx.logger.warn({ step: what, waited_ms: ms }, 'shutdown step did not finish in time');
}
