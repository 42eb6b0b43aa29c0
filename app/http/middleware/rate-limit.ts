import type { Request, RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit, type Options } from 'express-rate-limit';
import type { AppContext } from '../../context.js';
import { LIMIT_CLASSES, type LimitClass } from '../../config/settings.js';
import { SyncedRateLimitStore } from '../../data/rate-limit-store.js';

export type { LimitClass };

/**
 * A limiter middleware that also tells its budget (documented in /openapi.json) and lends its
 * store to the hot read path, which counts hits in the same place.
 */
export type Limiter = RequestHandler & { limit: number; windowMs: number; store: SyncedRateLimitStore };

/** Classes counted per client IP whoever the caller says it is (SPEC section 10). */
const PER_IP = new Set<LimitClass>(['finalize', 'admin', 'ip_write', 'auth_failure', 'ws_connect', 'probe']);
/** The /api classes count per DID first; the registry's count per API key (a DID proof may ride along). */
const PER_DID = new Set<LimitClass>(['signed_write', 'api_read']);
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The client IP as the limits count it (X-Forwarded-For parsed under TRUST_PROXY; an IPv6 /56). */
export const ipKey = (ip: string | undefined) => `ip:${ipKeyGenerator(ip ?? '')}`;

/**
 * Credentials known good without any work (lock the failing pattern, not the address): a request
 * with them is not held back by its address's refusals.
 */
export interface LimiterHooks {
  /** The request presents the admin token. */
  adminToken?: (req: Request) => boolean;
  /** The request presents an API key found valid in the in-process cache. */
  cachedKey?: (req: Request) => boolean;
}

/**
 * What some classes count differently from a plain hit per request:
 * - `admin` and `auth_failure` count refusals only (for admin any 4xx or 5xx, else a 401): guessing
 *   is limited per IP while an operator's tooling (the k6 gates create and remove dozens of keys a
 *   run) is not. The admin token passes both; a cached valid API key passes `auth_failure` when the
 *   request carries no DID signature to verify.
 * - `ip_write` counts writes only.
 */
function classOptions(name: LimitClass, hooks: LimiterHooks): Partial<Options> {
  const admin = (req: Request) => hooks.adminToken?.(req) === true;
  switch (name) {
    case 'admin':
      return { skipSuccessfulRequests: true, skip: admin };
    // The two IP-wide budgets send no RateLimit-* headers of their own: those describe the route's.
    case 'auth_failure':
      return {
        standardHeaders: false,
        skipSuccessfulRequests: true,
        requestWasSuccessful: (_req, res) => res.statusCode !== 401 && res.statusCode !== 429,
        skip: (req) => admin(req) || (!req.get('x-ainp-did') && hooks.cachedKey?.(req) === true),
      };
    case 'ip_write':
      return { standardHeaders: false, skip: (req) => READ_METHODS.has(req.method) };
    default:
      return {};
  }
}

/**
 * One limiter per route class, per API key or DID (else per client IP), counted in Valkey so
 * every replica shares the budget (in batches: see SyncedRateLimitStore for the bound). Standard `RateLimit-*` headers; 429 with the SPEC body.
 */
export function rateLimiters(
  ctx: Pick<AppContext, 'settings' | 'redis'> & { metrics: Pick<AppContext['metrics'], 'rateLimited'> },
  hooks: LimiterHooks = {},
): Record<LimitClass, Limiter> {
  const make = (name: LimitClass): Limiter => {
    const { windowMs, perWindow } = ctx.settings.rateLimits;
    const limit = perWindow[name];
    const store = new SyncedRateLimitStore(ctx.redis, `rl:${name}:`, ctx.settings.rateLimits.sync);
    const handler = rateLimit({
      windowMs,
      limit,
      standardHeaders: 'draft-6',
      legacyHeaders: false,
      ...classOptions(name, hooks),
      store,
      // The client IP (X-Forwarded-For parsing under TRUST_PROXY, an IPv6 subnet) only when the
      // request is counted by it: a profile of agent reads found it at 3 % of their time.
      keyGenerator: (req, res) => {
        // ipKey's expression, written out: express-rate-limit checks this function's text for it.
        const ip = () => `ip:${ipKeyGenerator(req.ip ?? '')}`;
        if (PER_IP.has(name)) return ip();
        if (PER_DID.has(name) && res.locals.did) return `did:${res.locals.did}`;
        if (res.locals.apiKey) return `key:${res.locals.apiKey.id}`;
        return res.locals.did ? `did:${res.locals.did}` : ip();
      },
      handler: (req, res) => {
        const info = (req as unknown as { rateLimit: { limit: number; remaining: number; resetTime?: Date } })
          .rateLimit;
        const reset = info.resetTime
          ? Math.max(0, Math.ceil((info.resetTime.getTime() - Date.now()) / 1000))
          : 0;
        ctx.metrics.rateLimited.inc({ limit: name });
        res.setHeader('Retry-After', String(reset));
        res.status(429).json({
          error: 'RATE_LIMIT_EXCEEDED',
          message: `Rate limit of ${info.limit} requests per ${windowMs / 1000} s exceeded`,
          retry_after: reset,
          limit: info.limit,
          remaining: info.remaining,
          reset,
          request_id: String(res.getHeader('X-Request-ID') ?? ''),
        });
      },
    });
    return Object.assign(handler, { limit, windowMs, store });
  };
  return Object.fromEntries(LIMIT_CLASSES.map((name) => [name, make(name)])) as Record<LimitClass, Limiter>;
}
