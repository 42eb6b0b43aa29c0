import { ed25519 } from '@noble/curves/ed25519';
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

export function newSigner(type: KeyType = 'ed25519', secretKey?: Uint8Array): Signer {
  if (type === 'ed25519') {
    const sk = secretKey ?? ed25519.utils.randomPrivateKey();
    return { did: didFromPublicKey(type, ed25519.getPublicKey(sk)), type, sign: (m) => ed25519.sign(m, sk) };
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
