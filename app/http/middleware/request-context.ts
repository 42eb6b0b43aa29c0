import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import { requestContext } from '../../logger.js';

/** A client's X-Request-ID kept as sent (else the broker makes one). */
export const ACCEPTABLE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Echoes a well-formed client X-Request-ID (else makes one) and binds it to every log line. */
export const withRequestContext: RequestHandler = (req, res, next) => {
  const sent = req.get('x-request-id');
  const id = sent && ACCEPTABLE_REQUEST_ID.test(sent) ? sent : randomUUID();
  res.setHeader('X-Request-ID', id);
  (req as { id?: string }).id = id;
  requestContext.run({ requestId: id }, next);
};
