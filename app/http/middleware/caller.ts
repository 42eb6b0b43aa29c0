import type { RequestHandler } from 'express';
import { AppError } from '../../errors.js';

/** Reads under /api accept either credential: an API key or a DID signature. */
export const requireCaller: RequestHandler = (_req, res, next) => {
  if (!res.locals.did && !res.locals.apiKey) {
    throw AppError.unauthorized(
      'An API key or a DID signature (X-AINP-DID, X-AINP-Timestamp, X-AINP-Signature) is required',
    );
  }
  next();
};
