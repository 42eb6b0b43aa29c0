import type { ErrorRequestHandler, RequestHandler } from 'express';
import { z } from 'zod';
import type { Logger } from 'pino';
import { AppError } from '../errors.js';
import { isPreparedResultChanged } from '../data/db.js';

export { AppError };

/** An error repeats at most this much of its input: issues, keys named, characters per text. */
const ECHO = { issues: 20, keys: 20, chars: 200 };
const clip = (v: string) => (v.length > ECHO.chars ? `${v.slice(0, ECHO.chars)}…` : v);

/**
 * The `details` of a VALIDATION_ERROR: one entry per issue, each naming its field. Bounded, since
 * they repeat what the client sent: a body with 8,000 unknown keys was answered with all of them
 * (150 kB). At most 20 issues (then one saying how many more) and 20 keys per issue (`more_keys`
 * counts the rest), every text clipped to 200 characters.
 */
export function zodDetails(error: z.ZodError) {
  const details: Array<Record<string, unknown>> = error.issues.slice(0, ECHO.issues).map((i) => {
    const keys = i.code === 'unrecognized_keys' ? i.keys : undefined;
    return {
      field: clip(i.path.join('.') || '(body)'),
      message: clip(keys ? `Unrecognized keys: ${keys.slice(0, ECHO.keys).join(', ')}` : i.message),
      ...(keys ? { keys: keys.slice(0, ECHO.keys).map(clip) } : {}),
      ...(keys && keys.length > ECHO.keys ? { more_keys: keys.length - ECHO.keys } : {}),
    };
  });
  const more = error.issues.length - ECHO.issues;
  if (more > 0) details.push({ field: '(more)', message: `${more} more issues not shown` });
  return details;
}

/** Maps what body-parser and friends throw (they carry `type` and `status`) to SPEC errors. */
function fromHttpError(err: { type?: string; status?: number; message?: string }): AppError | undefined {
  switch (err.type) {
    case 'entity.parse.failed':
      return AppError.validation('Malformed JSON body');
    case 'entity.too.large':
      return new AppError(413, 'PAYLOAD_TOO_LARGE', 'Request body exceeds the size limit');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', err.message ?? 'Unsupported body encoding');
    case 'request.aborted':
      return new AppError(400, 'BAD_REQUEST', 'Request aborted by the client');
    case 'request.size.invalid':
      return AppError.validation('Request body size does not match Content-Length');
  }
  if (typeof err.status === 'number' && err.status >= 400 && err.status < 500) {
    return new AppError(err.status, 'BAD_REQUEST', err.message ?? 'Bad request');
  }
  return undefined;
}

export const notFoundHandler: RequestHandler = (req) => {
  throw AppError.notFound(`No route for ${req.method} ${req.path}`);
};

/**
 * A connection that failed at the socket, before or while talking to the server: refused, reset,
 * no route (a Kubernetes Service with no endpoints during a PostgreSQL failover answers
 * ENETUNREACH: npm run test:chaos), timed out, or a name that does not resolve. pg passes these on
 * as Node's socket errors, with no SQLSTATE.
 */
const SOCKET_FAILURE =
  /^(ECONNREFUSED|ECONNRESET|ECONNABORTED|ENETUNREACH|EHOSTUNREACH|ENETDOWN|EHOSTDOWN|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN)$/;
const CONNECTION_LOST = /Connection terminated|timeout exceeded when trying to connect|ECONNREFUSED/;

function isConnectionFailure(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return (
    (typeof e?.code === 'string' && SOCKET_FAILURE.test(e.code)) ||
    (typeof e?.message === 'string' && CONNECTION_LOST.test(e.message))
  );
}

/** pg errors carry a SQLSTATE and a severity; connection failures carry a socket error code. */
export function isDatabaseError(err: unknown): boolean {
  const e = err as { severity?: unknown; code?: unknown };
  if (typeof e?.severity === 'string' && typeof e.code === 'string') return true;
  return isConnectionFailure(err);
}

/** The database is unreachable or refusing connections: a 503 the client may retry, not a 500. */
function isDatabaseUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && /^(08|57P0|53300)/.test(code)) return true;
  return isConnectionFailure(err);
}

/**
 * The status and body of the answer to an error (the error middleware's, and the short register
 * path's): an AppError as it says, a validation or body-parser error as a 4xx naming the problem,
 * anything else logged (and counted by `onInternal`) and answered with a generic 5xx.
 */
export function errorAnswer(
  err: unknown,
  logger: Logger,
  onInternal: (err: unknown) => void,
  where: { method: string; path: string },
  requestId: string,
): { status: number; body: Record<string, unknown> } {
  let appError: AppError | undefined;
  if (err instanceof AppError) appError = err;
  else if (err instanceof z.ZodError) appError = AppError.validation('Invalid request', zodDetails(err));
  else if (err && typeof err === 'object') appError = fromHttpError(err as { type?: string });

  if (!appError || appError.status >= 500) {
    if (!appError) {
      logger.error({ err, method: where.method, path: where.path }, 'unhandled error');
      onInternal(err);
    }
    appError ??= isDatabaseUnavailable(err)
      ? AppError.unavailable('The database is unavailable; retry shortly')
      : isPreparedResultChanged(err)
        ? AppError.unavailable('A migration changed the database under this request; retry')
        : new AppError(500, 'INTERNAL', 'Internal server error');
  }
  return {
    status: appError.status,
    body: {
      error: appError.code,
      message: appError.message,
      ...(appError.details !== undefined ? { details: appError.details } : {}),
      ...appError.extra,
      request_id: requestId,
    },
  };
}

/** The one error middleware, registered last. 5xx bodies are generic; details go to the log. */
export function errorHandler(
  logger: Logger,
  onInternal: (err: unknown) => void = () => undefined,
): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const requestId = String(res.getHeader('X-Request-ID') ?? '');
    const { status, body } = errorAnswer(
      err,
      logger,
      onInternal,
      { method: req.method, path: req.path },
      requestId,
    );
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (status === 503 && !res.getHeader('Retry-After')) res.setHeader('Retry-After', '5');
    res.status(status).json(body);
  };
}
