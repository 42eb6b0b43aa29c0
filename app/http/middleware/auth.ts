import type { Request, RequestHandler, Response } from 'express';
import type { AppContext } from '../../context.js';
import { findActiveApiKeyByHash, type ApiKeyRecord } from '../../data/api-key-repository.js';
import { hashApiKey, secretsEqual } from '../../domain/api-keys.js';
import { AppError } from '../errors.js';

declare module 'express-serve-static-core' {
  interface Locals {
    apiKey?: ApiKeyRecord;
  }
}

/** The API key of the request, set by `identifyApiKey`. */
export function callerKey(res: Response): ApiKeyRecord {
  const key = res.locals.apiKey;
  if (!key) throw AppError.unauthorized('An API key is required (Authorization: Bearer <key> or X-API-Key)');
  return key;
}

function presentedKey(authorization: string | undefined, xApiKey: string | undefined): string | undefined {
  if (xApiKey) return xApiKey.trim();
  const m = /^Bearer\s+(.+)$/i.exec(authorization ?? '');
  return m?.[1]?.trim();
}

/**
 * The hash of the key a request presents (undefined: none), worked out once per request: the
 * refused-authentication limit (through `cached`) and `identify` both need it.
 */
const presentedHashes = new WeakMap<object, string | null>();
function presentedHash(req: Pick<Request, 'headers'>): string | undefined {
  let hash = presentedHashes.get(req.headers);
  if (hash === undefined) {
    const presented = presentedKey(req.headers.authorization, req.headers['x-api-key'] as string | undefined);
    hash = presented ? hashApiKey(presented) : null;
    presentedHashes.set(req.headers, hash);
  }
  return hash ?? undefined;
}

/**
 * Resolves a presented API key (before rate limiting, so limits are per key). A key that is
 * unknown or revoked is 401 at once; no key passes through for routes that allow that.
 * Lookups are cached in process for API_KEY_CACHE_SECONDS; a revocation here clears it at once.
 */
export function apiKeyAuth(ctx: AppContext) {
  const ttlMs = ctx.settings.registry.apiKeyCacheMs;
  const cache = new Map<string, { key: ApiKeyRecord; expires: number }>();
  // Unknown keys too, for the same time, so a flood of made-up keys is not a flood of lookups. A
  // key is random and shown once at creation, so no key is presented before it exists.
  const unknown = new Map<string, number>();
  // One lookup of a key at a time: when its cache entry expires under load, the requests that
  // arrive meanwhile share it instead of each sending the same query.
  const lookups = new Map<string, Promise<ApiKeyRecord | undefined>>();
  const lookUp = (hash: string) => {
    let lookup = lookups.get(hash);
    if (!lookup) {
      const started: Promise<ApiKeyRecord | undefined> = findActiveApiKeyByHash(ctx.db, hash).finally(() => {
        if (lookups.get(hash) === started) lookups.delete(hash);
      });
      lookup = started;
      lookups.set(hash, lookup);
    }
    return lookup;
  };

  const identify: RequestHandler = async (req, res, next) => {
    const hash = presentedHash(req);
    if (!hash) return next();
    let key = cache.get(hash);
    if (!key || key.expires < Date.now()) {
      if ((unknown.get(hash) ?? 0) >= Date.now()) throw AppError.unauthorized('Unknown or revoked API key');
      const found = await lookUp(hash);
      if (!found) {
        if (ttlMs > 0) {
          if (unknown.size > 10_000) unknown.clear();
          unknown.set(hash, Date.now() + ttlMs);
        }
        throw AppError.unauthorized('Unknown or revoked API key');
      }
      key = { key: found, expires: Date.now() + ttlMs };
      if (ttlMs > 0) {
        if (cache.size > 10_000) cache.clear();
        cache.set(hash, key);
      }
    }
    res.locals.apiKey = key.key;
    next();
  };

  /**
   * The key of a request as `identify` would resolve it, when that needs no database round trip:
   * a presented key found in the cache and not expired. Undefined otherwise (no key, an unknown
   * one, or one to look up), so the caller takes the full path.
   */
  const cached = (req: Pick<Request, 'headers'>): ApiKeyRecord | undefined => {
    const hash = presentedHash(req);
    if (!hash) return undefined;
    const key = cache.get(hash);
    return key && key.expires >= Date.now() ? key.key : undefined;
  };

  const require: RequestHandler = (_req, res, next) => {
    callerKey(res);
    next();
  };

  // A revocation here: the next request looks the key up afresh, not joining a lookup begun before.
  const forget = (hash: string) => {
    cache.delete(hash);
    lookups.delete(hash);
  };
  return { identify, require, cached, forget };
}

/** Whether the request presents `Authorization: Bearer <ADMIN_TOKEN>` (constant-time compare). */
export function presentsAdminToken(ctx: AppContext, req: Pick<Request, 'get'>): boolean {
  if (!ctx.env.ADMIN_TOKEN) return false;
  const m = /^Bearer\s+(.+)$/i.exec(req.get('authorization') ?? '');
  return m !== null && secretsEqual(m[1]!.trim(), ctx.env.ADMIN_TOKEN);
}

/** `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time. */
export function adminAuth(ctx: AppContext): RequestHandler {
  return (req, _res, next) => {
    if (!ctx.env.ADMIN_TOKEN)
      throw AppError.unavailable('Admin endpoints are disabled: ADMIN_TOKEN is not set');
    if (!presentsAdminToken(ctx, req)) throw AppError.unauthorized('Admin token required');
    next();
  };
}
