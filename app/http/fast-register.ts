import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { AppContext } from '../context.js';
import type { ApiKeyRecord } from '../data/api-key-repository.js';
import { requestContext } from '../logger.js';
import { RegisterAgentBody } from '../schemas/registry.js';
import { registerAgent } from '../services/agents-service.js';
import { errorAnswer } from './errors.js';
import { badStrings } from './middleware/reject-nul.js';
import { ipKey, type Limiter } from './middleware/rate-limit.js';
import { requestIdOf } from './middleware/request-context.js';
import { fixedHeaders, writeShortAnswer } from './short-answer.js';

/** The path, which is also its route template in metrics. */
const REGISTER_PATH = '/api/v1/agents/register';

/** A body parse error the short path met, handed to the app's JSON parser to raise in its place. */
export const PARSE_ERROR = Symbol('ainp.parseError');

export interface FastRegisterDeps {
  ctx: Pick<AppContext, 'metrics' | 'logger'> & Parameters<typeof registerAgent>[0];
  /** The app's JSON body parser (the same limit, strictness and raw-body capture). */
  json: RequestHandler;
  /** The cached API key of a request, as `identify` would resolve it (see apiKeyAuth). */
  cachedKey: (req: Pick<IncomingMessage, 'headers'>) => ApiKeyRecord | undefined;
  /** The client IP as the app reads it (TRUST_PROXY). */
  clientIp: (req: IncomingMessage) => string;
  ipWrite: Limiter;
  register: Limiter;
  /** The app's ETag function (Express's `etag fn` setting). */
  etag: ((body: string, encoding: string) => string) | undefined;
  /** The headers every response to a request without Origin carries before routing (helmet, CORS). */
  common: ReadonlyArray<readonly [string, string]>;
  /** Counts an error the app's error handler would count (a database error). */
  onInternal: (err: unknown) => void;
}

/** What a request must not carry for the short path: anything that could change its answer. */
const DECLINE = ['origin', 'x-ainp-did', 'transfer-encoding'] as const;

/**
 * `POST /api/v1/agents/register` answered in front of Express's router and middleware chain, as the
 * hot reads are (hot-reads.ts), for the plain case: a JSON body, no Origin, no DID proof riding
 * along, an API key already in apiKeyAuth's cache, and the per-IP write and per-key register
 * limits admitting the hit within their batches (SyncedRateLimitStore.admitLocally). The body is
 * read by the app's own JSON parser. The answer is the full chain's, byte for byte but for Date,
 * the rate-limit counters and the agent's own fields (test/fast-register.test.ts compares them):
 * the same security and CORS headers, X-Request-ID, RateLimit-* headers, status, body shape,
 * ETag, metrics and access-log line, and the same error bodies from the same error answer.
 *
 * Whenever the answer could differ (a body that does not parse or validate, a NUL or lone
 * surrogate, a `did` to prove, another owner, a limit not decided locally) the request goes to the
 * app with its parsed body (the parser then skips it; a parse error is raised there in its place),
 * and nothing was counted here. Returns true when it took the request.
 */
export function fastRegister(
  deps: FastRegisterDeps,
  app: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { ctx, register, ipWrite } = deps;
  const fixed = fixedHeaders(deps.common, register);
  const record = {
    metrics: ctx.metrics,
    logger: ctx.logger,
    method: 'POST',
    url: REGISTER_PATH,
    route: REGISTER_PATH,
  };

  const afterBody = async (req: IncomingMessage, res: ServerResponse, key: ApiKeyRecord, start: number) => {
    const raw = (req as { body?: unknown }).body;
    const parsed = badStrings(raw) ? undefined : RegisterAgentBody.safeParse(raw);
    if (!parsed?.success || parsed.data.did !== undefined) return app(req, res);
    if (parsed.data.owner_address !== undefined && parsed.data.owner_address !== key.address)
      return app(req, res);
    const ip = ipKey(deps.clientIp(req));
    const ipHit = ipWrite.store.admitLocally(ip, ipWrite.limit);
    if (!ipHit) return app(req, res);
    const admitted = register.store.admitLocally(`key:${key.id}`, register.limit);
    if (!admitted) {
      ipWrite.store.decrement(ip);
      return app(req, res);
    }
    const requestId = requestIdOf(req.headers['x-request-id']);
    await requestContext.run({ requestId }, async () => {
      let status = 201;
      let body: unknown;
      try {
        body = await registerAgent(ctx, key, parsed.data, undefined);
      } catch (err) {
        ({ status, body } = errorAnswer(
          err,
          ctx.logger,
          deps.onInternal,
          { method: 'POST', path: REGISTER_PATH },
          requestId,
        ));
      }
      if (res.headersSent || res.destroyed) return;
      const text = JSON.stringify(body);
      writeShortAnswer(
        res,
        {
          status,
          requestId,
          fixed,
          limiter: register,
          admitted,
          bytes: Buffer.from(text),
          etag: deps.etag?.(text, 'utf8'),
        },
        { ...record, start },
      );
      ctx.metrics.shortPath.inc({ route: REGISTER_PATH });
    });
  };

  return (req, res) => {
    if (req.method !== 'POST' || req.url !== REGISTER_PATH) return false;
    const headers = req.headers;
    if (headers['content-type'] !== 'application/json') return false;
    if (!(Number(headers['content-length'] ?? 0) > 0)) return false;
    for (const name of DECLINE) if (headers[name] !== undefined) return false;
    const key = deps.cachedKey(req);
    if (!key) return false;
    const start = performance.now();
    deps.json(req as never, res as never, (err?: unknown) => {
      if (err) {
        (req as { [PARSE_ERROR]?: unknown })[PARSE_ERROR] = err;
        app(req, res);
        return;
      }
      afterBody(req, res, key, start).catch((e: unknown) => {
        // Not expected (errors are answered above); the client must not hang.
        ctx.logger.error({ err: e }, 'fast register failed');
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
    });
    return true;
  };
}
