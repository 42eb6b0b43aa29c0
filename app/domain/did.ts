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

/** Verifies a base64url (no padding) signature over `message` by the key of `did`. */
export function verifySignature(key: DidKey, message: string, signatureB64url: string): boolean {
  let signature: Uint8Array;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(signatureB64url)) return false;
    signature = new Uint8Array(Buffer.from(signatureB64url, 'base64url'));
  } catch {
    return false;
  }
  const msg = new TextEncoder().encode(message);
  try {
    if (key.type === 'ed25519')
      return signature.length === 64 && ed25519.verify(signature, msg, key.publicKey);
    // ECDSA/SHA-256 with a 64-byte r||s; high-S accepted since WebCrypto does not normalise S.
    return signature.length === 64 && p256.verify(signature, sha256(msg), key.publicKey, { lowS: false });
  } catch {
    return false;
  }
}
