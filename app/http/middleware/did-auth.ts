import type { Request, RequestHandler, Response } from 'express';
import type { AppContext } from '../../context.js';
import { AppError } from '../../errors.js';
import { signatureNonces, verifySignedRequest } from '../../services/signature-service.js';

declare module 'express-serve-static-core' {
  interface Locals {
    did?: string;
  }
}

/** The DID that signed this request, set by `didAuth`. */
export function callerDid(res: Response): string {
  const did = res.locals.did;
  if (!did)
    throw AppError.unauthorized(
      'A DID signature is required (X-AINP-DID, X-AINP-Timestamp, X-AINP-Signature)',
    );
  return did;
}

/** Refuses a request that carries no valid DID signature (see `didAuth`). */
export const requireDid: RequestHandler = (_req, res, next) => {
  callerDid(res);
  next();
};

/** Trusts X-AINP-DID only with a valid signature; a DID header without one is refused. */
export function didAuth(ctx: AppContext): RequestHandler {
  const nonces = signatureNonces(ctx.redis);
  return async (req: Request, res, next) => {
    if (!req.get('x-ainp-did')) return next();
    res.locals.did = await verifySignedRequest(nonces, {
      method: req.method,
      url: req.originalUrl,
      header: (n) => req.get(n),
      rawBody: (req as Request & { rawBody?: Buffer }).rawBody,
    });
    next();
  };
}
