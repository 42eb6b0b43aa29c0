import type { Request, RequestHandler } from 'express';
import type { Level, Logger } from 'pino';

/**
 * The logger of access lines: `logger` without its redaction. An access line holds only the
 * request id, method, URL, status and time (logRequest below), none of the paths redacted
 * (headers, *.key, *.password, *.token), so redacting it changed nothing and cost a third of the
 * line's CPU. Made once per logger.
 */
const accessLoggers = new WeakMap<Logger, Logger>();
function accessLines(logger: Logger): Logger {
  let lines = accessLoggers.get(logger);
  if (!lines) {
    lines = logger.child({}, { redact: [] });
    accessLoggers.set(logger, lines);
  }
  return lines;
}

/** Probes and scrapes would drown the log. */
const QUIET = new Set(['/live', '/ready', '/metrics']);

/**
 * One access-log line per request, at a level that says what happened: error for a 5xx, warn for
 * a 4xx, info for a write, debug for a successful read (metrics count reads; a line per read cost
 * about a fifth of read throughput). Nothing is built for a line whose level is off: no child
 * logger per request, no serialization. The line carries the request id (X-Request-ID) too.
 */
export function accessLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    if (QUIET.has(req.url)) return next();
    const start = performance.now();
    res.once('finish', () => {
      logRequest(logger, req, (req as { id?: string }).id, res.statusCode, performance.now() - start);
    });
    next();
  };
}

/**
 * The access-log line of one answered request (also written by the hot read path), at the level
 * its status and method call for; nothing is built when that level is off.
 */
export function logRequest(
  logger: Logger,
  req: Pick<Request, 'method' | 'originalUrl'>,
  requestId: string | undefined,
  status: number,
  ms: number,
): void {
  const level: Level = status >= 500 ? 'error' : status >= 400 ? 'warn' : isRead(req) ? 'debug' : 'info';
  if (!logger.isLevelEnabled(level)) return;
  accessLines(logger)[level](
    {
      request_id: requestId,
      req: { method: req.method, url: req.originalUrl },
      res: { status },
      responseTime: Math.round(ms),
    },
    status >= 500 ? 'request errored' : 'request completed',
  );
}

const isRead = (req: Pick<Request, 'method'>) => req.method === 'GET' || req.method === 'HEAD';
