import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519';
import { p256 } from '@noble/curves/p256';
import { sha256 } from '@noble/hashes/sha256';
import { bytesToHex } from '@noble/hashes/utils';
import { base58 } from '@scure/base';

/**
 * `did:key` identifiers (z + base58btc(multicodec prefix + public key)) and the AINP request
 * signature: over `METHOD \n PATH_WITH_QUERY \n TIMESTAMP \n sha256-hex(raw body)`.
 */

export type KeyType = 'ed25519' | 'p256';
export interface DidKey {
  did: string;
  type: KeyType;
  publicKey: Uint8Array;
}

const ED25519_PREFIX = [0xed, 0x01];
const P256_PREFIX = [0x80, 0x24];

export class DidError extends Error {}

/**
 * The longest identifier looked at (SPEC section 10). A did:key of either key type is under 60
 * characters; the cap is checked before any decoding, whose cost grows with the square of the
 * length (an unauthenticated 15,500-character header once took half a second to refuse).
 */
export const MAX_DID_LENGTH = 128;

// Decoding and the curve checks cost about half a millisecond a key: a signed request reuses them.
const parsedKeys = new Map<string, DidKey>();

export function parseDidKey(did: string): DidKey {
  let key = parsedKeys.get(did);
  if (!key) {
    key = decodeDidKey(did);
    if (parsedKeys.size > 50_000) parsedKeys.clear();
    parsedKeys.set(did, key);
  }
  return key;
}

function decodeDidKey(did: string): DidKey {
  if (did.length > MAX_DID_LENGTH) throw new DidError(`is longer than ${MAX_DID_LENGTH} characters`);
  if (!did.startsWith('did:key:z')) throw new DidError('must be a did:key with a base58btc (z) key');
  let bytes: Uint8Array;
  try {
    bytes = base58.decode(did.slice('did:key:z'.length));
  } catch {
    throw new DidError('did:key is not valid base58btc');
  }
  if (bytes[0] === ED25519_PREFIX[0] && bytes[1] === ED25519_PREFIX[1] && bytes.length === 34) {
    const publicKey = bytes.slice(2);
    assertNotSmallOrderEd25519(publicKey);
    return { did, type: 'ed25519', publicKey };
  }
  if (bytes[0] === P256_PREFIX[0] && bytes[1] === P256_PREFIX[1] && bytes.length === 35) {
    const publicKey = bytes.slice(2);
    try {
      p256.ProjectivePoint.fromHex(publicKey).assertValidity();
    } catch {
      throw new DidError('did:key P-256 key is not a point on the curve');
    }
    return { did, type: 'p256', publicKey };
  }
  throw new DidError(
    'did:key must hold an Ed25519 (0xed01, 32 bytes) or P-256 (0x8024, 33 bytes) public key',
  );
}

/**
 * Refuses Ed25519 keys that are not on the curve or of small order: for those, signatures that
 * verify can be made without any private key. (A key with a small-order component is still
 * controlled only by its owner; checking for one costs a full scalar multiplication per new DID.)
 */
function assertNotSmallOrderEd25519(publicKey: Uint8Array): void {
  let point;
  try {
    point = ed25519.ExtendedPoint.fromHex(publicKey);
  } catch {
    throw new DidError('did:key Ed25519 key is not a point on the curve');
  }
  if (point.isSmallOrder()) throw new DidError('did:key Ed25519 key is of small order');
}

export function didFromPublicKey(type: KeyType, publicKey: Uint8Array): string {
  const prefix = type === 'ed25519' ? ED25519_PREFIX : P256_PREFIX;
  return `did:key:z${base58.encode(new Uint8Array([...prefix, ...publicKey]))}`;
}

export function canonicalString(
  method: string,
  pathWithQuery: string,
  timestamp: string,
  body: Uint8Array | string,
): string {
  const raw = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  return `${method.toUpperCase()}\n${pathWithQuery}\n${timestamp}\n${bytesToHex(sha256(raw))}`;
}

// SubjectPublicKeyInfo DER headers, so OpenSSL (node:crypto) takes the raw did:key bytes.
const SPKI_PREFIX: Record<KeyType, Buffer> = {
  ed25519: Buffer.from('302a300506032b6570032100', 'hex'),
  p256: Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'),
};
const keyObjects = new Map<string, KeyObject>();

function keyObject(key: DidKey): KeyObject {
  let k = keyObjects.get(key.did);
  if (!k) {
    k = createPublicKey({
      key: Buffer.concat([SPKI_PREFIX[key.type], key.publicKey]),
      format: 'der',
      type: 'spki',
    });
    if (keyObjects.size > 50_000) keyObjects.clear();
    keyObjects.set(key.did, k);
  }
  return k;
}

const P256_HALF_N = p256.CURVE.n >> 1n;

/**
 * Verifies a base64url (no padding) signature over `message` by the key of `did`, with OpenSSL:
 * Ed25519, or ECDSA P-256/SHA-256 with a 64-byte r||s. Only the canonical spelling of a signature
 * is taken: base64url whose unused low bits are zero, and for P-256 the low S (of the two valid
 * signatures (r, s) and (r, n − s), the one with s ≤ n/2). Any other spelling is refused, so one
 * signature has one text.
 */
export function verifySignature(key: DidKey, message: string, signatureB64url: string): boolean {
  if (!/^[A-Za-z0-9_-]{86}$/.test(signatureB64url)) return false;
  const signature = Buffer.from(signatureB64url, 'base64url');
  if (signature.length !== 64 || signature.toString('base64url') !== signatureB64url) return false;
  const msg = Buffer.from(message, 'utf8');
  try {
    if (key.type === 'ed25519') return nodeVerify(null, msg, keyObject(key), signature);
    if (BigInt(`0x${signature.subarray(32).toString('hex')}`) > P256_HALF_N) return false;
    return nodeVerify('sha256', msg, { key: keyObject(key), dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}
