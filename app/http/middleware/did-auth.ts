import { createHash } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { AppContext } from '../../context.js';
import { NonceStore } from '../../data/nonce-store.js';
import { canonicalString, DidError, parseDidKey, verifySignature } from '../../domain/did.js';
import { AppError } from '../../errors.js';

declare module 'express-serve-static-core' {
  interface Locals {
    did?: string;
  }
}

export const SIGNATURE_WINDOW_MS = 5 * 60 * 1000;

/** The DID that signed this request, set by `didAuth`. */
export function callerDid(res: Response): string {
  const did = res.locals.did;
  if (!did)
    throw AppError.unauthorized(
      'A DID signature is required (X-AINP-DID, X-AINP-Timestamp, X-AINP-Signature)',
    );
  return did;
}

/**
 * Verifies an AINP request signature when X-AINP-DID is present; a DID header without a valid
 * signature is refused, never trusted. Skew over 5 minutes is STALE_SIGNATURE, a bad signature
 * INVALID_SIGNATURE, the same signature twice within the window REPLAYED.
 */
export function didAuth(ctx: AppContext): RequestHandler {
  const nonces = new NonceStore(ctx.redis, Math.ceil((2 * SIGNATURE_WINDOW_MS) / 1000));
  return async (req: Request, res, next) => {
    const did = req.get('x-ainp-did');
    if (!did) return next();
    const timestamp = req.get('x-ainp-timestamp') ?? '';
    const signature = req.get('x-ainp-signature') ?? '';
    if (!signature || !/^\d{1,16}$/.test(timestamp)) {
      throw new AppError(
        401,
        'INVALID_SIGNATURE',
        'X-AINP-Timestamp (Unix ms) and X-AINP-Signature are required with X-AINP-DID',
      );
    }
    if (Math.abs(Date.now() - Number(timestamp)) > SIGNATURE_WINDOW_MS) {
      throw new AppError(
        401,
        'STALE_SIGNATURE',
        'X-AINP-Timestamp is more than 5 minutes from the server clock',
      );
    }
    let key;
    try {
      key = parseDidKey(did);
    } catch (err) {
      throw new AppError(401, 'INVALID_SIGNATURE', `X-AINP-DID: ${(err as DidError).message}`);
    }
    const raw = (req as Request & { rawBody?: Buffer }).rawBody ?? new Uint8Array();
    const message = canonicalString(req.method, req.originalUrl, timestamp, raw);
    if (!verifySignature(key, message, signature)) {
      throw new AppError(
        401,
        'INVALID_SIGNATURE',
        'The signature does not verify for this DID, method, path, timestamp and body',
      );
    }
    const id = createHash('sha256').update(signature).digest('hex');
    if (!(await nonces.firstSeen(id))) throw AppError.conflict('This signature was already used', 'REPLAYED');
    res.locals.did = did;
    next();
  };
}
