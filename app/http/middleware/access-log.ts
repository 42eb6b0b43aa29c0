import type { Request, RequestHandler } from 'express';
import type { Level, Logger } from 'pino';

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
      const status = res.statusCode;
      const level: Level = status >= 500 ? 'error' : status >= 400 ? 'warn' : isRead(req) ? 'debug' : 'info';
      if (!logger.isLevelEnabled(level)) return;
      logger[level](
        {
          request_id: (req as { id?: string }).id,
          req: { method: req.method, url: req.originalUrl },
          res: { status },
          responseTime: Math.round(performance.now() - start),
        },
        status >= 500 ? 'request errored' : 'request completed',
      );
    });
    next();
  };
}

const isRead = (req: Request) => req.method === 'GET' || req.method === 'HEAD';
