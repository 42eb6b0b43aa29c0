import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import { requestContext } from '../../logger.js';

/** A client's X-Request-ID kept as sent (else the broker makes one). */
const ACCEPTABLE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The request id of a request: its client's X-Request-ID when well formed, else a new one. */
export function requestIdOf(sent: string | string[] | undefined): string {
  return typeof sent === 'string' && ACCEPTABLE_REQUEST_ID.test(sent) ? sent : randomUUID();
}

/** Echoes a well-formed client X-Request-ID (else makes one) and binds it to every log line. */
export const withRequestContext: RequestHandler = (req, res, next) => {
  const id = requestIdOf(req.headers['x-request-id']);
  res.setHeader('X-Request-ID', id);
  (req as { id?: string }).id = id;
  requestContext.run({ requestId: id }, next);
};
