import type { RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
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
const PER_IP = new Set<LimitClass>(['finalize', 'admin']);
/** The /api classes count per DID first; the registry's count per API key (a DID proof may ride along). */
const PER_DID = new Set<LimitClass>(['signed_write', 'api_read']);

/**
 * One limiter per route class, per API key or DID (else per client IP), counted in Valkey so
 * every replica shares the budget (in batches: see SyncedRateLimitStore for the bound). Standard `RateLimit-*` headers; 429 with the SPEC body.
 */
export function rateLimiters(ctx: AppContext): Record<LimitClass, Limiter> {
  const make = (name: LimitClass): Limiter => {
    const { windowMs, perWindow } = ctx.settings.rateLimits;
    const limit = perWindow[name];
    const store = new SyncedRateLimitStore(ctx.redis, `rl:${name}:`, ctx.settings.rateLimits.sync);
    const handler = rateLimit({
      windowMs,
      limit,
      standardHeaders: 'draft-6',
      // The admin routes count refusals only: guessing the token is limited per IP, while an
      // operator's tooling (the k6 gates create and remove dozens of keys a run) is not.
      skipSuccessfulRequests: name === 'admin',
      legacyHeaders: false,
      store,
      // The client IP (X-Forwarded-For parsing under TRUST_PROXY, an IPv6 subnet) only when the
      // request is counted by it: a profile of agent reads found it at 3 % of their time.
      keyGenerator: (req, res) => {
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
