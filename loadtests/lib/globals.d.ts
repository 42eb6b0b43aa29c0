/**
 * Globals k6 provides that @types/k6 does not declare: k6's console, and the part of WebCrypto
 * the scripts use. k6 provides `crypto.subtle` as a global; @types/k6 does
 * not declare it, and the DOM library would bring browser globals k6 does not have.
 */
declare global {
  const console: {
    log(...args: unknown[]): void;
    warn(...args: unknown[]): void;
    error(...args: unknown[]): void;
  };
  interface K6CryptoKey {
    readonly type: string;
  }
  /** A key in JSON Web Key form (RFC 7517): how a key crosses from setup() to the VUs. */
  interface JsonWebKey {
    kty?: string;
    crv?: string;
    x?: string;
    y?: string;
    d?: string;
    [name: string]: unknown;
  }
  interface K6CryptoKeyPair {
    privateKey: K6CryptoKey;
    publicKey: K6CryptoKey;
  }
  const crypto: {
    subtle: {
      generateKey(
        algorithm: { name: 'ECDSA'; namedCurve: 'P-256' },
        extractable: boolean,
        usages: string[],
      ): Promise<K6CryptoKeyPair>;
      exportKey(format: 'raw', key: K6CryptoKey): Promise<ArrayBuffer>;
      exportKey(format: 'jwk', key: K6CryptoKey): Promise<JsonWebKey>;
      importKey(
        format: 'jwk',
        key: JsonWebKey,
        algorithm: { name: 'ECDSA'; namedCurve: 'P-256' },
        extractable: boolean,
        usages: string[],
      ): Promise<K6CryptoKey>;
      sign(
        algorithm: { name: 'ECDSA'; hash: { name: 'SHA-256' } },
        key: K6CryptoKey,
        data: ArrayBuffer,
      ): Promise<ArrayBuffer>;
    };
  };
}
export {};
