import type { IncomingMessage, RequestListener } from 'node:http';
import proxyAddr from 'proxy-addr';
import cors from 'cors';
import express, { type Express, type RequestHandler } from 'express';
import type { AppContext } from '../context.js';
import { errorHandler, isDatabaseError, notFoundHandler } from './errors.js';
import { accessLog } from './middleware/access-log.js';
import { httpMetrics } from './middleware/http-metrics.js';
import { helmetHeaders, securityHeaders } from './middleware/security-headers.js';
import { hotReads, type HotReadsDeps } from './hot-reads.js';
import { fastRegister, PARSE_ERROR, type FastRegisterDeps } from './fast-register.js';
import { jsonOnly } from './middleware/json-only.js';
import { rejectNul } from './middleware/reject-nul.js';
import { withRequestContext } from './middleware/request-context.js';
import type { Guards } from './define-route.js';
import { adminAuth, apiKeyAuth, presentsAdminToken } from './middleware/auth.js';
import { requireCaller } from './middleware/caller.js';
import { didAuth, requireDid } from './middleware/did-auth.js';
import { rateLimiters, type Limiter } from './middleware/rate-limit.js';
import { createOpenApiRegistry } from './openapi.js';
import { pouRoutes } from './routes/pou.js';
import { usefulnessRoutes } from './routes/usefulness.js';
import { adminRoutes } from './routes/admin.js';
import { agentRoutes } from './routes/agents.js';
import { feedbackRoutes } from './routes/feedback.js';
import { platformRoutes } from './routes/platform.js';

/** CORS: an exact list of origins plus an optional regular expression (for preview hosts). */
function corsOptions(ctx: AppContext): cors.CorsOptions {
  const list = new Set(ctx.env.CORS_ORIGINS);
  const pattern = ctx.env.CORS_ORIGIN_REGEX ? new RegExp(ctx.env.CORS_ORIGIN_REGEX) : undefined;
  return {
    origin: (origin, cb) => cb(null, !origin || list.has(origin) || pattern?.test(origin) === true),
    exposedHeaders: [
      'X-Request-ID',
      'RateLimit-Limit',
      'RateLimit-Remaining',
      'RateLimit-Reset',
      'Retry-After',
    ],
    maxAge: 600,
  };
}

/**
 * CORS as the `cors` package answers it, with a shortcut for the common case: a request without an
 * Origin header (a server-side agent, curl, k6) is not a CORS request and gets only the headers
 * `cors` would add to it anyway, worked out once.
 */
function corsFor(ctx: AppContext): { middleware: RequestHandler; withoutOrigin: Array<[string, string]> } {
  const options = corsOptions(ctx);
  const full = cors(options);
  const withoutOrigin: Array<[string, string]> = [
    ['Vary', 'Origin'],
    ['Access-Control-Expose-Headers', (options.exposedHeaders as string[]).join(',')],
  ];
  const middleware: RequestHandler = (req, res, next) => {
    if (req.headers.origin !== undefined || req.method === 'OPTIONS') return full(req, res, next);
    for (const [name, value] of withoutOrigin) res.setHeader(name, value);
    next();
  };
  return { middleware, withoutOrigin };
}

/**
 * What the WebSocket upgrade (not an Express route) shares with the app: the client IP as the app
 * reads it (under TRUST_PROXY) and the per-IP limiters of connects and refused authentication.
 */
export interface UpgradeGuards {
  clientIp: (req: IncomingMessage) => string;
  wsConnect: Limiter;
  authFailure: Limiter;
}

/** The broker's HTTP side: the Express app, and the request listener its server runs (hot reads first). */
export interface BrokerHttp {
  app: Express;
  listener: RequestListener;
  upgrade: UpgradeGuards;
}

export function createApp(ctx: AppContext): BrokerHttp {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', ctx.env.TRUST_PROXY);
  app.set('query parser', 'simple');

  const helmet = helmetHeaders({
    contentSecurityPolicy: { directives: { 'upgrade-insecure-requests': null } },
  });
  const cors = corsFor(ctx);
  const apiKeys = apiKeyAuth(ctx);
  const admin = adminAuth(ctx);
  const guards: Guards = {
    auth: { 'api-key': apiKeys.require, did: requireDid, 'did-or-api-key': requireCaller, admin },
    limits: rateLimiters(ctx, {
      adminToken: (req) => presentsAdminToken(ctx, req),
      cachedKey: (req) => apiKeys.cached(req) !== undefined,
    }),
  };

  // The two hottest reads, answered from the in-process cache in front of Express when the chain
  // would add nothing to them (see hot-reads.ts); everything else, and every miss, goes to the app.
  // The headers helmet removes (X-Powered-By) are not set there: x-powered-by is disabled.
  const hot = hotReads({
    cache: ctx.localCache,
    metrics: ctx.metrics,
    logger: ctx.logger,
    cachedKey: apiKeys.cached,
    etag: app.get('etag fn') as HotReadsDeps['etag'],
    common: [...helmet.set, ...cors.withoutOrigin],
    routes: [
      { prefix: '/api/v1/agents/', kind: 'agent', route: '/api/v1/agents/:id', limiter: guards.limits.get },
      {
        prefix: '/api/reputation/',
        kind: 'rep',
        route: '/api/reputation/:did',
        limiter: guards.limits.api_read,
      },
    ],
  });
  app.use(withRequestContext);
  app.use(accessLog(ctx.logger));
  app.use(httpMetrics(ctx.metrics));
  app.use(securityHeaders(helmet));
  app.use(cors.middleware);
  app.use(jsonOnly);
  const json = express.json({
    limit: ctx.env.BODY_LIMIT,
    strict: true,
    type: 'application/json',
    // DID signatures cover the raw bytes of the body, so keep them.
    verify: (req, _res, buf) => {
      (req as unknown as { rawBody: Buffer }).rawBody = buf;
    },
  });
  // A body the short register path read arrives parsed (the parser skips a read request), or with
  // the parser's error, raised here where the parser would have raised it.
  app.use((req, res, next) => {
    const parseError = (req as { [PARSE_ERROR]?: unknown })[PARSE_ERROR];
    if (parseError === undefined) return json(req, res, next);
    delete (req as { [PARSE_ERROR]?: unknown })[PARSE_ERROR];
    next(parseError);
  });

  app.use(rejectNul);
  // Per client IP, before any credential is looked at (SPEC section 10, v3): writes, and refused
  // authentication, whoever the request claims to be (fresh DIDs and unknown keys cost nothing).
  app.use('/api', guards.limits.ip_write, guards.limits.auth_failure);

  const api = { guards, openapi: createOpenApiRegistry() };
  app.use(platformRoutes(ctx, api));
  // Each admin route counts its per-IP limit before it checks the token (so guessing the token is
  // rate limited too); the guard after the router covers unknown paths under /api/admin: without
  // the token they are 401, so the admin surface is not probed route by route.
  app.use('/api/admin', adminRoutes(ctx, api, apiKeys.forget), admin);
  // A registry request may also carry a DID signature: the proof of control that binds a DID.
  const dids = didAuth(ctx);
  app.use('/api/v1/agents', apiKeys.identify, dids, feedbackRoutes(ctx, api), agentRoutes(ctx, api));
  app.use('/api', apiKeys.identify, dids, pouRoutes(ctx, api), usefulnessRoutes(ctx, api));

  const onInternal = (err: unknown) => void (isDatabaseError(err) && ctx.metrics.dbErrors.inc());
  app.use(notFoundHandler);
  app.use(errorHandler(ctx.logger, onInternal));

  const trust = app.get('trust proxy fn') as Parameters<typeof proxyAddr>[1];
  // Plain registrations in front of Express too (fast-register.ts), unless turned off.
  const register = ctx.env.HTTP_FAST_REGISTER
    ? fastRegister(
        {
          ctx,
          json,
          cachedKey: apiKeys.cached,
          clientIp: (req) => proxyAddr(req, trust),
          ipWrite: guards.limits.ip_write,
          register: guards.limits.register,
          etag: app.get('etag fn') as FastRegisterDeps['etag'],
          common: [...helmet.set, ...cors.withoutOrigin],
          onInternal,
        },
        (req, res) => app(req, res),
      )
    : () => false;

  const listener: RequestListener = (req, res) => {
    try {
      if (hot(req, res) || register(req, res)) return;
    } catch (err) {
      // Not expected; if the answer went out, it stands (and is not sent twice), else the app answers.
      ctx.logger.error({ err }, 'short path failed');
      if (res.headersSent) return;
    }
    app(req, res);
  };
  const upgrade: UpgradeGuards = {
    clientIp: (req) => proxyAddr(req, trust),
    wsConnect: guards.limits.ws_connect,
    authFailure: guards.limits.auth_failure,
  };
  return { app, listener, upgrade };
}
