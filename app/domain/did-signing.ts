import { createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { p256 } from '@noble/curves/p256';
import { sha256 } from '@noble/hashes/sha256';
import { canonicalString, didFromPublicKey, type KeyType } from './did.js';

/**
 * The small signing client used by tests, examples and load tests: a did:key identity and the
 * three AINP headers for a request.
 */
export interface Signer {
  did: string;
  type: KeyType;
  sign(message: Uint8Array): Uint8Array;
}

// PKCS#8 DER of an Ed25519 private key, up to its 32-byte seed (RFC 8410).
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * A did:key signer. `secretKey` is the raw key (the 32-byte Ed25519 seed, or the P-256 scalar);
 * without it a new key is drawn. Ed25519 signs with OpenSSL (node:crypto): the same signature as
 * any RFC 8032 signer, at about an eighth of a pure-JS signer's CPU (load generators sign every
 * request).
 */
export function newSigner(type: KeyType = 'ed25519', secretKey?: Uint8Array): Signer {
  if (type === 'ed25519') {
    const key = secretKey
      ? createPrivateKey({
          key: Buffer.concat([ED25519_PKCS8_PREFIX, secretKey]),
          format: 'der',
          type: 'pkcs8',
        })
      : generateKeyPairSync('ed25519').privateKey;
    // The raw public key: the last 32 bytes of its SPKI DER.
    const publicKey = createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(-32);
    return { did: didFromPublicKey(type, publicKey), type, sign: (m) => sign(null, m, key) };
  }
  const sk = secretKey ?? p256.utils.randomPrivateKey();
  return {
    did: didFromPublicKey(type, p256.getPublicKey(sk, true)),
    type,
    // The broker takes only the canonical low-S signature (noble signs P-256 with either S by default).
    sign: (m) => p256.sign(sha256(m), sk, { lowS: true }).toCompactRawBytes(),
  };
}

export function signedHeaders(
  signer: Signer,
  method: string,
  pathWithQuery: string,
  body: string = '',
  timestamp: number = Date.now(),
): Record<string, string> {
  const ts = String(timestamp);
  const message = new TextEncoder().encode(canonicalString(method, pathWithQuery, ts, body));
  return {
    'X-AINP-DID': signer.did,
    'X-AINP-Timestamp': ts,
    'X-AINP-Signature': Buffer.from(signer.sign(message)).toString('base64url'),
  };
}
