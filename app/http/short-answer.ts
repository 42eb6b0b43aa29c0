import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { logRequest } from './middleware/access-log.js';
import type { Limiter } from './middleware/rate-limit.js';

/**
 * What the answers written in front of Express (hot-reads.ts, fast-register.ts) share with the full
 * chain's: the headers that never change for a route (helmet's and CORS's for a request without
 * Origin, the route limiter's policy and limit, the JSON content type), worked out once.
 */
export function fixedHeaders(common: ReadonlyArray<readonly [string, string]>, limiter: Limiter): string[] {
  return [
    ...common.flat(),
    'RateLimit-Policy',
    `${limiter.limit};w=${Math.ceil(limiter.windowMs / 1000)}`,
    'RateLimit-Limit',
    String(limiter.limit),
    'Content-Type',
    'application/json; charset=utf-8',
  ];
}

export interface ShortAnswer {
  status: number;
  requestId: string;
  /** fixedHeaders of the route. */
  fixed: readonly string[];
  limiter: Limiter;
  /** The route limiter's hit, admitted in process (SyncedRateLimitStore.admitLocally). */
  admitted: { totalHits: number; resetAt: number };
  bytes: Buffer;
  etag: string | undefined;
}

/**
 * Writes an answer as the full chain would (X-Request-ID, the fixed headers, the RateLimit-* state
 * of the route's hit, Retry-After on a 503, ETag, Content-Length), then counts it as the chain's
 * middleware would: the request metrics by route template and the access-log line.
 */
export function writeShortAnswer(
  res: ServerResponse,
  a: ShortAnswer,
  record: { metrics: Metrics; logger: Logger; method: string; url: string; route: string; start: number },
): void {
  res.writeHead(a.status, [
    'X-Request-ID',
    a.requestId,
    ...a.fixed,
    'RateLimit-Remaining',
    String(Math.max(a.limiter.limit - a.admitted.totalHits, 0)),
    'RateLimit-Reset',
    String(Math.max(0, Math.ceil((a.admitted.resetAt - Date.now()) / 1000))),
    ...(a.status === 503 ? ['Retry-After', '5'] : []),
    ...(a.etag ? ['ETag', a.etag] : []),
    'Content-Length',
    String(a.bytes.length),
  ]);
  res.end(a.bytes);
  const seconds = (performance.now() - record.start) / 1000;
  const labels = { method: record.method, route: record.route, status: String(a.status) };
  record.metrics.httpRequests.inc(labels);
  record.metrics.httpDuration.observe(labels, seconds);
  logRequest(
    record.logger,
    { method: record.method, originalUrl: record.url },
    a.requestId,
    a.status,
    seconds * 1000,
  );
}
