import type { RequestHandler } from 'express';
import { AppError } from '../errors.js';

/** A request that carries a body must say it is JSON; anything else is 415, before any parsing. */
export const jsonOnly: RequestHandler = (req, _res, next) => {
  const hasBody =
    req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  // The usual header needs no parsing (type-is accepts it as it is).
  const type = req.headers['content-type'];
  if (hasBody && type !== 'application/json' && !req.is('application/json')) {
    throw new AppError(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      `Content-Type must be application/json (got ${req.get('content-type') ?? 'none'})`,
    );
  }
  next();
};
