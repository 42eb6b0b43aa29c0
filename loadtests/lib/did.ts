import { b64encode } from 'k6/encoding';
import { sha256 } from 'k6/crypto';

/**
 * A did:key agent identity in k6, with a P-256 key from WebCrypto, and the AINP request signature
 * (SPEC: over `METHOD\nPATH_WITH_QUERY\nTIMESTAMP\nsha256-hex(body)`). The broker also takes
 * Ed25519; k6's WebCrypto has P-256, and both are did:key.
 */
export type Signer = { did: string; key: K6CryptoKey };

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/** base58btc, as did:key uses (no library can be imported into k6 without a bundler). */
export function base58(bytes: Uint8Array): string {
  const digits: number[] = [0];
  for (const byte of bytes) {
    let carry = byte;
    for (let i = 0; i < digits.length; i++) {
      carry += digits[i]! << 8;
      digits[i] = carry % 58;
      carry = (carry / 58) | 0;
    }
    while (carry) {
      digits.push(carry % 58);
      carry = (carry / 58) | 0;
    }
  }
  let out = '';
  for (const byte of bytes) {
    if (byte !== 0) break;
    out += '1';
  }
  for (let i = digits.length - 1; i >= 0; i--) out += BASE58[digits[i]!];
  return out;
}

/** did:key for a P-256 public key: multicodec 0x8024 + the compressed point. */
export function didFromRawP256(raw: Uint8Array): string {
  const x = raw.slice(1, 33);
  const yOdd = raw[64]! & 1;
  const compressed = new Uint8Array(35);
  compressed.set([0x80, 0x24, yOdd ? 0x03 : 0x02]);
  compressed.set(x, 3);
  return `did:key:z${base58(compressed)}`;
}

export async function newSigner(): Promise<Signer> {
  const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ]);
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  return { did: didFromRawP256(raw), key: pair.privateKey };
}

/** A signer as plain data (its DID and private key as a JWK): setup() data cannot hold a CryptoKey. */
export type ExportedSigner = { did: string; jwk: JsonWebKey };

export async function exportSigner(signer: Signer): Promise<ExportedSigner> {
  return { did: signer.did, jwk: await crypto.subtle.exportKey('jwk', signer.key) };
}

export async function importSigner(exported: ExportedSigner): Promise<Signer> {
  const key = await crypto.subtle.importKey(
    'jwk',
    exported.jwk,
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['sign'],
  );
  return { did: exported.did, key };
}

function utf8(s: string): ArrayBuffer {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length)
      c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00);
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return new Uint8Array(out).buffer;
}

// The P-256 group order n and n/2, big-endian: the broker takes only low-S signatures (s ≤ n/2).
const N = hexBytes('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
const HALF_N = hexBytes('7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8');

function hexBytes(hex: string): Uint8Array {
  return new Uint8Array(hex.match(/../g)!.map((b) => parseInt(b, 16)));
}

/** a > b for 32-byte big-endian numbers. */
function greater(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return a[i]! > b[i]!;
  return false;
}

/**
 * WebCrypto's ECDSA does not normalise S: of the two valid signatures (r, s) and (r, n − s) it
 * returns either. The canonical one has the low S, so a high S is replaced by n − s.
 */
export function lowS(signature: ArrayBuffer): Uint8Array {
  const sig = new Uint8Array(signature);
  const s = sig.subarray(32);
  if (!greater(s, HALF_N)) return sig;
  let borrow = 0;
  for (let i = 31; i >= 0; i--) {
    const d = N[i]! - s[i]! - borrow;
    borrow = d < 0 ? 1 : 0;
    s[i] = (d + 256) & 0xff;
  }
  return sig;
}

/** The three AINP headers for one request. */
export async function signedHeaders(
  signer: Signer,
  method: string,
  pathWithQuery: string,
  body = '',
): Promise<Record<string, string>> {
  const ts = String(Date.now());
  const canonical = `${method.toUpperCase()}\n${pathWithQuery}\n${ts}\n${sha256(body, 'hex')}`;
  const sig = await crypto.subtle.sign(
    { name: 'ECDSA', hash: { name: 'SHA-256' } },
    signer.key,
    utf8(canonical),
  );
  const signature = b64encode(lowS(sig).buffer as ArrayBuffer, 'rawurl');
  return { 'X-AINP-DID': signer.did, 'X-AINP-Timestamp': ts, 'X-AINP-Signature': signature };
}
