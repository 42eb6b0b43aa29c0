import { beforeAll, describe, expect, it } from 'vitest';
import { canonicalString, parseDidKey, verifySignature } from '../app/domain/did.js';
import { newSigner, signedHeaders } from '../app/domain/did-signing.js';
import type { RunningBroker } from '../app/server.js';
import { signed } from './helpers/ainp.js';
import { createTestStack } from './helpers/stack.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await (await createTestStack()).broker();
});

const intent = { intent_type: 'x', description: 'y', budget_atomic: '1' };

async function post(headers: Record<string, string>, body: string) {
  const res = await fetch(`${broker.url}/api/intents`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body,
  });
  return { status: res.status, body: (await res.json()) as any };
}

describe('did:key', () => {
  it('round-trips Ed25519 and P-256 keys and verifies their signatures', () => {
    for (const type of ['ed25519', 'p256'] as const) {
      const s = newSigner(type);
      const key = parseDidKey(s.did);
      expect(key.type).toBe(type);
      const msg = canonicalString('POST', '/api/intents?x=1', '123', '{"a":1}');
      const sig = Buffer.from(s.sign(new TextEncoder().encode(msg))).toString('base64url');
      expect(verifySignature(key, msg, sig)).toBe(true);
      expect(verifySignature(key, `${msg}x`, sig)).toBe(false);
    }
  });

  it('rejects other multicodecs and malformed identifiers', () => {
    expect(() => parseDidKey('did:web:example.com')).toThrow();
    expect(() => parseDidKey('did:key:z0OIl')).toThrow(/base58/);
    expect(() => parseDidKey('did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme')).toThrow(); // secp256k1
  });
});

describe('signed requests', () => {
  it('accepts a valid Ed25519 and P-256 signature', async () => {
    for (const type of ['ed25519', 'p256'] as const) {
      const res = await signed(broker.url, newSigner(type), 'POST', '/api/intents', intent);
      expect(res.status).toBe(201);
    }
  });

  it('refuses a forged signature (401 INVALID_SIGNATURE)', async () => {
    const body = JSON.stringify(intent);
    const victim = newSigner();
    const forger = newSigner();
    const headers = { ...signedHeaders(forger, 'POST', '/api/intents', body), 'X-AINP-DID': victim.did };
    const res = await post(headers, body);
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('INVALID_SIGNATURE');
  });

  it('refuses a body changed after signing', async () => {
    const s = newSigner();
    const res = await post(
      signedHeaders(s, 'POST', '/api/intents', JSON.stringify(intent)),
      JSON.stringify({ ...intent, budget_atomic: '999' }),
    );
    expect(res.body.error).toBe('INVALID_SIGNATURE');
  });

  it('refuses a timestamp more than 5 minutes away (401 STALE_SIGNATURE)', async () => {
    const s = newSigner();
    const body = JSON.stringify(intent);
    const res = await post(signedHeaders(s, 'POST', '/api/intents', body, Date.now() - 6 * 60_000), body);
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('STALE_SIGNATURE');
  });

  it('refuses the same signature twice (409 REPLAYED)', async () => {
    const s = newSigner();
    const body = JSON.stringify(intent);
    const headers = signedHeaders(s, 'POST', '/api/intents', body);
    expect((await post(headers, body)).status).toBe(201);
    const again = await post(headers, body);
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('REPLAYED');
  });

  it('never trusts a DID header without a signature, and requires one for writes', async () => {
    const res = await post({ 'X-AINP-DID': newSigner().did }, JSON.stringify(intent));
    expect(res.status).toBe(401);
    const none = await post({}, JSON.stringify(intent));
    expect(none.status).toBe(401);
    expect(none.body.error).toBe('UNAUTHORIZED');
  });
});
