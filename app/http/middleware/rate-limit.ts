import type { RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import type { AppContext } from '../../context.js';
import { FallbackRateLimitStore } from '../../data/rate-limit-store.js';

export type LimitClass = 'register' | 'feedback' | 'link_payment' | 'search' | 'get' | 'write';

const LIMIT_ENV = {
  register: 'RATE_LIMIT_REGISTER',
  feedback: 'RATE_LIMIT_FEEDBACK',
  link_payment: 'RATE_LIMIT_LINK_PAYMENT',
  search: 'RATE_LIMIT_SEARCH',
  get: 'RATE_LIMIT_GET',
  write: 'RATE_LIMIT_WRITE',
} as const;

/**
 * One limiter per route class, per API key (else per client IP), counted in Valkey so every
 * replica shares the budget. Standard `RateLimit-*` headers; 429 with the SPEC body.
 */
export type Limiter = RequestHandler & { limit: number; windowMs: number };

export function rateLimiters(ctx: AppContext): Record<LimitClass, Limiter> {
  const make = (name: LimitClass): Limiter => {
    const limit = ctx.env[LIMIT_ENV[name]];
    const handler = rateLimit({
      windowMs: ctx.env.RATE_LIMIT_WINDOW_MS,
      limit,
      standardHeaders: 'draft-6',
      legacyHeaders: false,
      store: new FallbackRateLimitStore(ctx.redis, `rl:${name}:`),
      keyGenerator: (req, res) =>
        res.locals.apiKey ? `key:${res.locals.apiKey.id}` : `ip:${ipKeyGenerator(req.ip ?? '')}`,
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
          message: `Rate limit of ${info.limit} requests per ${ctx.env.RATE_LIMIT_WINDOW_MS / 1000} s exceeded`,
          retry_after: reset,
          limit: info.limit,
          remaining: info.remaining,
          reset,
          request_id: String(res.getHeader('X-Request-ID') ?? ''),
        });
      },
    });
    return Object.assign(handler, { limit, windowMs: ctx.env.RATE_LIMIT_WINDOW_MS });
  };
  return {
    register: make('register'),
    feedback: make('feedback'),
    link_payment: make('link_payment'),
    search: make('search'),
    get: make('get'),
    write: make('write'),
  };
}
