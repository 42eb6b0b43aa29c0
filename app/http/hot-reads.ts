import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ApiKeyRecord } from '../data/api-key-repository.js';
import type { LocalCache } from '../data/local-cache.js';
import type { Metrics } from '../metrics.js';
import { serializedOnce } from './define-route.js';
import type { Limiter } from './middleware/rate-limit.js';
import { requestIdOf } from './middleware/request-context.js';
import { fixedHeaders, writeShortAnswer } from './short-answer.js';

/** One read served from the in-process cache: `GET <prefix><key>`. */
export interface HotRoute {
  /** The path before the cached key, e.g. `/api/v1/agents/`. */
  prefix: string;
  /** The LocalCache kind whose key is the rest of the path. */
  kind: string;
  /** The route template the full path reports in metrics (`/api/v1/agents/:id`). */
  route: string;
  /** The route's rate limit (the same store counts both paths). */
  limiter: Limiter;
}

export interface HotReadsDeps {
  cache: LocalCache;
  metrics: Metrics;
  logger: Logger;
  /** The cached API key of a request, as `identify` would resolve it (see apiKeyAuth). */
  cachedKey: (req: Pick<IncomingMessage, 'headers'>) => ApiKeyRecord | undefined;
  /** The app's ETag function (Express's `etag fn` setting), so the ETag is the full chain's. */
  etag: Parameters<typeof serializedOnce>[1];
  /** The headers every response to a request without Origin carries before routing (helmet, CORS). */
  common: ReadonlyArray<readonly [string, string]>;
  routes: HotRoute[];
}

/** What a request must not carry for the short path: anything that could change its answer. */
const DECLINE: ReadonlyArray<keyof IncomingHttpHeaders> = [
  'origin', // CORS answers per origin
  'x-ainp-did', // a signature to verify (and the DID it counts against)
  'if-none-match', // conditional GETs (304) stay with Express's `fresh`
  'if-modified-since',
  'transfer-encoding', // a GET with a body is looked at by the full chain
];

/**
 * The key a path segment names, decoded as Express decodes a route parameter; undefined for no
 * segment, more than one, a query string or an escape that does not decode.
 */
function param(raw: string): string | undefined {
  if (raw.length === 0 || /[/?#]/.test(raw)) return undefined;
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/**
 * The hot reads (an agent by id, a DID's reputation) answered before Express's router and
 * middleware chain, when everything that chain would do for them is already known in process:
 * the value is in the LocalCache, the API key in apiKeyAuth's cache and the rate-limit hit fits
 * its batch (SyncedRateLimitStore.admitLocally). The answer is the one the full chain gives, byte
 * for byte but for Date and the rate-limit counters (test/hot-reads.test.ts compares them): the
 * same security and CORS headers, X-Request-ID, RateLimit-* headers, body, ETag, metrics (route,
 * status, duration, cache hit) and access-log line. Whenever any of that is not known here (a
 * miss, a key to look up, a sync due, a conditional GET, an Origin, a DID signature, a body or
 * a query string) the request goes down the full chain unchanged: nothing is counted
 * twice, since this path counts only what it answers.
 *
 * It runs in front of Express, as the server's request listener calls it (see createApp), not as
 * a middleware: Express's per-request set-up (prototypes, the final handler, the router's
 * dispatch) is a cost the answer does not need. Returns true when it answered.
 */
export function hotReads(deps: HotReadsDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  const routes = deps.routes.map((r) => ({ ...r, fixed: fixedHeaders(deps.common, r.limiter) }));
  const { cache, metrics, logger } = deps;

  return (req, res) => {
    if (req.method !== 'GET') return false;
    const start = performance.now();
    const url = req.url ?? '';
    const route = routes.find((r) => url.startsWith(r.prefix));
    if (!route) return false;
    const id = param(url.slice(route.prefix.length));
    if (id === undefined) return false;
    const headers = req.headers;
    for (const name of DECLINE) if (headers[name] !== undefined) return false;
    if (Number(headers['content-length'] ?? 0) > 0) return false;
    const value = cache.peek(route.kind, id);
    if (typeof value !== 'object' || value === null) return false;
    const key = deps.cachedKey(req);
    if (!key) return false;
    const admitted = route.limiter.store.admitLocally(`key:${key.id}`, route.limiter.limit);
    if (!admitted) return false;

    const body = serializedOnce(value as object, deps.etag);
    writeShortAnswer(
      res,
      {
        status: 200,
        requestId: requestIdOf(headers['x-request-id']),
        fixed: route.fixed,
        limiter: route.limiter,
        admitted,
        bytes: body.bytes,
        etag: body.etag,
      },
      { metrics, logger, method: 'GET', url, route: route.route, start },
    );
    cache.hit(route.kind);
    return true;
  };
}
