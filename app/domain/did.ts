import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
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

export function parseDidKey(did: string): DidKey {
  if (!did.startsWith('did:key:z')) throw new DidError('must be a did:key with a base58btc (z) key');
  let bytes: Uint8Array;
  try {
    bytes = base58.decode(did.slice('did:key:z'.length));
  } catch {
    throw new DidError('did:key is not valid base58btc');
  }
  if (bytes[0] === ED25519_PREFIX[0] && bytes[1] === ED25519_PREFIX[1] && bytes.length === 34) {
    return { did, type: 'ed25519', publicKey: bytes.slice(2) };
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

/**
 * Verifies a base64url (no padding) signature over `message` by the key of `did`, with OpenSSL:
 * Ed25519, or ECDSA P-256/SHA-256 with a 64-byte r||s (high-S accepted: WebCrypto does not
 * normalise S).
 */
export function verifySignature(key: DidKey, message: string, signatureB64url: string): boolean {
  if (!/^[A-Za-z0-9_-]+$/.test(signatureB64url)) return false;
  const signature = Buffer.from(signatureB64url, 'base64url');
  if (signature.length !== 64) return false;
  const msg = Buffer.from(message, 'utf8');
  try {
    if (key.type === 'ed25519') return nodeVerify(null, msg, keyObject(key), signature);
    return nodeVerify('sha256', msg, { key: keyObject(key), dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}
