import type { Request, RequestHandler, Response } from 'express';
import type { AppContext } from '../../context.js';
import { AppError } from '../../errors.js';
import { durableReplayKeys, signatureNonces, verifySignedRequest } from '../../services/signature-service.js';

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

/**
 * Trusts X-AINP-DID only with a valid signature; a DID header without one is refused. A signed
 * write's replay key is recorded in PostgreSQL (durable, on every replica); a signed read's in
 * Valkey.
 */
export function didAuth(ctx: AppContext): RequestHandler {
  const reads = signatureNonces(ctx.redis);
  const writes = durableReplayKeys(ctx.db, {
    ...ctx.settings.writeBatches,
    onBatch: (n) => ctx.metrics.writeBatchSize.observe({ op: 'replay_key' }, n),
    onQueued: (n) => ctx.metrics.writeBatchQueued.set({ op: 'replay_key' }, n),
  });
  return async (req: Request, res, next) => {
    if (!req.get('x-ainp-did')) return next();
    const replay = req.method === 'GET' || req.method === 'HEAD' ? reads : writes;
    res.locals.did = await verifySignedRequest(replay, {
      method: req.method,
      url: req.originalUrl,
      header: (n) => req.get(n),
      rawBody: (req as Request & { rawBody?: Buffer }).rawBody,
    });
    next();
  };
}
