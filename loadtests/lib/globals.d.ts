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
      sign(
        algorithm: { name: 'ECDSA'; hash: { name: 'SHA-256' } },
        key: K6CryptoKey,
        data: ArrayBuffer,
      ): Promise<ArrayBuffer>;
    };
  };
}
export {};
