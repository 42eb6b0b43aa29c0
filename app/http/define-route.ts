import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { z } from 'zod';
import type { ApiKeyRecord } from '../data/api-key-repository.js';
import { callerKey } from './middleware/auth.js';
import { callerDid } from './middleware/did-auth.js';
import type { LimitClass, Limiter } from './middleware/rate-limit.js';
import { authErrors, commonErrors } from './openapi.js';
import { parse } from './validate.js';

/**
 * Who may call a route: nobody in particular, an API key, a DID signature, either of the two (the
 * reads under /api), or the admin token.
 */
export type Auth = 'none' | 'api-key' | 'did' | 'did-or-api-key' | 'admin';

/** The middleware that enforces each kind of auth and each rate limit, built once per app. */
export interface Guards {
  auth: Record<Exclude<Auth, 'none'>, RequestHandler>;
  limits: Record<LimitClass, Limiter>;
}

/** What every router of one app shares: its guards and its OpenAPI registry. */
export interface RouteApp {
  guards: Guards;
  openapi: OpenAPIRegistry;
}

/** A router mounted at `prefix`, whose routes are documented in `openapi`. */
export interface Routes {
  router: Router;
  prefix: string;
  tags: string[];
  guards: Guards;
  openapi: OpenAPIRegistry;
}

/** The two kinds of /api route: a DID-signed write, and a read (counted per DID, key or IP). */
export const signedWrite = { method: 'post', auth: 'did', limit: 'signed_write' } as const;
export const apiRead = { method: 'get', limit: 'api_read' } as const;

export function routesAt(prefix: string, tags: string[], app: RouteApp): Routes {
  return { router: Router(), prefix, tags, ...app };
}

type ZodObj = z.ZodType<Record<string, unknown>>;
type Infer<T> = T extends z.ZodType ? z.infer<T> : undefined;
type Documented = { description: string; content?: Record<string, { schema: z.ZodType }> };

/** The security scheme each kind of auth is documented with in /openapi.json. */
const SECURITY: Record<Exclude<Auth, 'none'>, string> = {
  'api-key': 'apiKey',
  did: 'did',
  // Either credential is accepted; the document has named the signature since the first release.
  'did-or-api-key': 'did',
  admin: 'admin',
};

export interface RouteSpec<P extends ZodObj | undefined, Q extends ZodObj | undefined, B, A extends Auth> {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** Express syntax (`:id`), relative to the router's prefix. */
  path: string;
  summary: string;
  auth: A;
  /** The rate-limit class counted for this route; none means the route is not rate limited. */
  limit?: LimitClass;
  tags?: string[];
  params?: P;
  query?: Q;
  body?: B;
  /** Success and route-specific error responses; the common ones are added here. */
  responses: Record<number, Documented>;
}

/** What a handler gets: the validated parts of the request and the authenticated caller. */
export type RouteInput<P, Q, B, A extends Auth> = {
  params: Infer<P>;
  query: Infer<Q>;
  body: Infer<B>;
  req: Request;
  res: Response;
} & (A extends 'api-key' ? { key: ApiKeyRecord } : unknown) &
  (A extends 'did' ? { did: string } : unknown);

/**
 * A handler returns the body of its success response (sent as JSON with the route's first 2xx
 * status), or undefined when it wrote the response itself.
 */
export type RouteHandler<P, Q, B, A extends Auth> = (input: RouteInput<P, Q, B, A>) => unknown;

/**
 * Declares a route once: registers it on the router (rate limit, then auth, then validation of
 * params, query and body, then the handler) and documents the same schemas, auth and limit in
 * /openapi.json. The order matches what callers have always seen: a request over its limit is 429
 * before anything else, a request without credentials 401 before its input is looked at.
 */
export function defineRoute<
  P extends ZodObj | undefined = undefined,
  Q extends ZodObj | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
  A extends Auth = Auth,
>(routes: Routes, spec: RouteSpec<P, Q, B, A>, handler: RouteHandler<P, Q, B, A>): void {
  const { guards } = routes;
  const before: RequestHandler[] = [];
  if (spec.limit) before.push(guards.limits[spec.limit]);
  if (spec.auth !== 'none') before.push(guards.auth[spec.auth as Exclude<Auth, 'none'>]);
  const success = Number(Object.keys(spec.responses).find((s) => s.startsWith('2')) ?? 200);

  routes.router[spec.method](spec.path, ...before, async (req: Request, res: Response) => {
    const input = {
      params: spec.params ? parse(spec.params, req.params, 'params') : undefined,
      query: spec.query ? parse(spec.query, req.query, 'query') : undefined,
      body: spec.body ? parse(spec.body, req.body, 'body') : undefined,
      req,
      res,
      ...(spec.auth === 'api-key' ? { key: callerKey(res) } : {}),
      ...(spec.auth === 'did' ? { did: callerDid(res) } : {}),
    } as RouteInput<P, Q, B, A>;
    const result = await handler(input);
    if (result !== undefined) sendJson(res, success, result);
    // A handler that neither returned a body nor answered would leave the client hanging. One whose
    // client left before the answer (a probe that timed out) could not answer: nothing went wrong
    // here (Node refuses to write to a destroyed response, so no headers were sent).
    else if (!res.headersSent && !res.destroyed)
      throw new Error(`${spec.method.toUpperCase()} ${spec.path}: no response`);
  });
  document(routes, spec);
}

/** A frozen result as sent: its JSON bytes and ETag, made once. */
export interface Serialized {
  bytes: Buffer;
  etag: string | undefined;
}

/** The body and ETag of frozen results (cached values, shared between requests), made once each. */
const serialized = new WeakMap<object, Serialized>();

/** How a frozen result is sent, worked out on its first use (`etagFn`: the app's `etag fn`). */
export function serializedOnce(
  result: object,
  etagFn: ((body: string, encoding: string) => string) | undefined,
): Serialized {
  let done = serialized.get(result);
  if (!done) {
    const body = JSON.stringify(result);
    done = { bytes: Buffer.from(body), etag: etagFn?.(body, 'utf8') };
    serialized.set(result, done);
  }
  return done;
}

/**
 * `res.status(status).json(result)`, except that a frozen result (a value from the in-process
 * cache, which cannot change) is serialized and hashed for its ETag once, not on every response.
 */
function sendJson(res: Response, status: number, result: unknown): void {
  if (typeof result !== 'object' || result === null || !Object.isFrozen(result)) {
    res.status(status).json(result);
    return;
  }
  const done = serializedOnce(
    result,
    res.req.app.get('etag fn') as ((body: string, encoding: string) => string) | undefined,
  );
  res.status(status).setHeader('Content-Type', 'application/json; charset=utf-8');
  // With ETag set, res.send does not hash the body again; it still answers 304 when it matches.
  if (done.etag) res.setHeader('ETag', done.etag);
  res.send(done.bytes);
}

function document(routes: Routes, spec: RouteSpec<ZodObj | undefined, ZodObj | undefined, unknown, Auth>) {
  const secured = spec.auth !== 'none';
  // A route that reads no input, needs no credentials and counts no limit (the probes) cannot
  // answer 400, 413 or 429: it lists only its own responses.
  const plain = !secured && !spec.limit && !spec.params && !spec.query && !spec.body;
  const limiter = spec.limit ? routes.guards.limits[spec.limit] : undefined;
  routes.openapi.registerPath({
    method: spec.method,
    path: openApiPath(routes.prefix, spec.path),
    summary: spec.summary,
    tags: spec.tags ?? routes.tags,
    ...(secured ? { security: [{ [SECURITY[spec.auth as Exclude<Auth, 'none'>]]: [] }] } : {}),
    request: {
      ...(spec.params ? { params: spec.params as z.ZodObject } : {}),
      ...(spec.query ? { query: spec.query as z.ZodObject } : {}),
      ...(spec.body
        ? { body: { required: true, content: { 'application/json': { schema: spec.body as z.ZodType } } } }
        : {}),
    },
    responses: {
      ...(plain ? {} : commonErrors),
      ...(secured ? authErrors : {}),
      ...spec.responses,
    },
    // Machine-readable auth and limit: test/routes-openapi.test.ts checks them against what the
    // server enforces.
    'x-ainp-auth': spec.auth,
    ...(limiter && spec.limit
      ? {
          'x-ainp-rate-limit': {
            class: spec.limit,
            limit: limiter.limit,
            window_seconds: limiter.windowMs / 1000,
          },
        }
      : {}),
  });
}

/** `/api/v1/agents` + `/:id` → `/api/v1/agents/{id}`; a router's `/` is its prefix itself. */
export function openApiPath(prefix: string, path: string): string {
  const full = path === '/' && prefix ? prefix : `${prefix}${path}`;
  return full.replace(/:([a-z_]+)/g, '{$1}');
}
