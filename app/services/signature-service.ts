import { hash } from 'node:crypto';
import type { Db } from '../data/db.js';
import { GroupCommit, type GroupCommitOptions } from '../data/group-commit.js';
import { NonceStore } from '../data/nonce-store.js';
import type { RedisHandle } from '../data/redis.js';
import { recordReplayKeys } from '../data/replay-key-repository.js';
import { canonicalString, DidError, MAX_DID_LENGTH, parseDidKey, verifySignature } from '../domain/did.js';
import { AppError } from '../errors.js';

export const SIGNATURE_WINDOW_MS = 5 * 60 * 1000;
/** A replay key is remembered for twice the skew window: any request older is refused as stale. */
const REPLAY_TTL_SECONDS = Math.ceil((2 * SIGNATURE_WINDOW_MS) / 1000);

/** Where replay keys are remembered: `firstSeen` is true once per key within the window. */
export interface ReplayMemory {
  firstSeen(id: string): Promise<boolean>;
}

/**
 * Verifies an AINP request signature and returns the DID that signed it. Skew over 5 minutes is
 * STALE_SIGNATURE, a bad or non-canonical signature INVALID_SIGNATURE, the same signed request
 * (DID, timestamp, message) twice within the window REPLAYED. Used for HTTP requests and WebSocket upgrades alike.
 */
export async function verifySignedRequest(
  nonces: ReplayMemory,
  req: { method: string; url: string; header(name: string): string | undefined; rawBody?: Uint8Array },
): Promise<string> {
  const did = req.header('x-ainp-did') ?? '';
  if (did.length > MAX_DID_LENGTH)
    throw new AppError(401, 'INVALID_SIGNATURE', `X-AINP-DID is longer than ${MAX_DID_LENGTH} characters`);
  const timestamp = req.header('x-ainp-timestamp') ?? '';
  const signature = req.header('x-ainp-signature') ?? '';
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
  const message = canonicalString(req.method, req.url, timestamp, req.rawBody ?? new Uint8Array());
  if (!verifySignature(key, message, signature)) {
    throw new AppError(
      401,
      'INVALID_SIGNATURE',
      'The signature does not verify for this DID, method, path, timestamp and body',
    );
  }
  // The replay key is what was signed, not the signature's text: a second valid signature over
  // the same request (ECDSA signs with a random nonce) is the same request again.
  const id = hash('sha256', `${did}\n${message}`, 'hex');
  if (!(await nonces.firstSeen(id))) throw AppError.conflict('This signature was already used', 'REPLAYED');
  return did;
}

/**
 * The replay memory of signed reads (GET /api/..., the WebSocket upgrade): Valkey, with a
 * per-process stand-in while Valkey is down. A replayed read moves nothing.
 */
export function signatureNonces(redis: RedisHandle): NonceStore {
  return new NonceStore(redis, REPLAY_TTL_SECONDS);
}

/**
 * The replay memory of signed writes (SPEC section 10, v3): PostgreSQL, so a replay is refused
 * with Valkey down, after a restart and on any replica. The key is recorded (group-committed with
 * the keys of concurrent requests) before the write it authorizes runs, so no write commits
 * without its key; a request whose write then fails has used its signature, and the client signs
 * its retry anew (a new timestamp), as it did when Valkey held the keys.
 */
export function durableReplayKeys(
  db: Db,
  bounds: Omit<GroupCommitOptions<string, boolean>, 'write'>,
): ReplayMemory {
  const batcher = new GroupCommit<string, boolean>({
    ...bounds,
    write: (keys) => recordReplayKeys(db, keys, REPLAY_TTL_SECONDS),
  });
  return { firstSeen: (id) => batcher.submit(id) };
}
