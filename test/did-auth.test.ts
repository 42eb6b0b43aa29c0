import { beforeAll, describe, expect, it } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519';
import { p256 } from '@noble/curves/p256';
import { sha256 } from '@noble/hashes/sha256';
import { canonicalString, didFromPublicKey, parseDidKey, verifySignature } from '../app/domain/did.js';
import { newSigner, signedHeaders } from '../app/domain/did-signing.js';
import type { RunningBroker } from '../app/server.js';
import { fund, signed, type Signer } from './helpers/ainp.js';
import { createTestStack } from './helpers/stack.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await (await createTestStack()).broker();
});

const intent = { intent_type: 'x', description: 'y', budget_atomic: '1000' };
/** A signer whose available balance covers one intent (an intent escrows its budget). */
async function funded(s: Signer): Promise<Signer> {
  await fund(broker.url, s.did, intent.budget_atomic);
  return s;
}

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

  it('signs Ed25519 from a given seed exactly as RFC 8032 (an independent signer agrees)', () => {
    const seed = ed25519.utils.randomPrivateKey();
    const s = newSigner('ed25519', seed);
    expect(s.did).toBe(didFromPublicKey('ed25519', ed25519.getPublicKey(seed)));
    const msg = new TextEncoder().encode(canonicalString('POST', '/api/intents', '123', '{"a":1}'));
    expect(Buffer.from(s.sign(msg)).toString('hex')).toBe(
      Buffer.from(ed25519.sign(msg, seed)).toString('hex'),
    );
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
      const res = await signed(broker.url, await funded(newSigner(type)), 'POST', '/api/intents', intent);
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
      JSON.stringify({ ...intent, budget_atomic: '1001' }),
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
    const s = await funded(newSigner());
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

/** Every base64url text that decodes to the same 64 bytes as `sig` (the last character's 2 spare bits). */
function spellings(sig: string): string[] {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const bytes = Buffer.from(sig, 'base64url');
  return [...alphabet]
    .map((c) => sig.slice(0, -1) + c)
    .filter((s) => Buffer.from(s, 'base64url').equals(bytes));
}

describe('signatures an attacker could respell or forge (SPEC section 10)', () => {
  it('refuses an X-AINP-DID over 128 characters before decoding it', async () => {
    const body = JSON.stringify(intent);
    const res = await post(
      {
        'X-AINP-DID': `did:key:z${'2'.repeat(15_500)}`,
        'X-AINP-Timestamp': String(Date.now()),
        'X-AINP-Signature': 'AA',
      },
      body,
    );
    expect(res.status).toBe(401);
    expect(res.body.message).toBe('X-AINP-DID is longer than 128 characters');
    expect(() => parseDidKey(`did:key:z${'2'.repeat(200)}`)).toThrow(/longer than 128/);
  });

  it('takes one signed request once, whatever its spelling: 16 base64url texts, high S, a second signature', async () => {
    const sk = p256.utils.randomPrivateKey();
    const s = await funded(newSigner('p256', sk));
    const body = JSON.stringify(intent);
    const headers = signedHeaders(s, 'POST', '/api/intents', body);
    const sig = headers['X-AINP-Signature']!;
    const texts = spellings(sig);
    expect(texts).toHaveLength(16);
    const statuses = [];
    for (const t of texts) statuses.push((await post({ ...headers, 'X-AINP-Signature': t }, body)).status);
    expect(statuses.filter((x) => x === 201)).toHaveLength(1);
    expect(statuses.filter((x) => x === 401)).toHaveLength(15); // not canonical base64url

    // (r, n − s) verifies mathematically too: refused as the high-S spelling.
    const raw = Buffer.from(sig, 'base64url');
    const n = p256.CURVE.n;
    const highS = (n - BigInt(`0x${raw.subarray(32).toString('hex')}`)).toString(16).padStart(64, '0');
    const flipped = Buffer.concat([raw.subarray(0, 32), Buffer.from(highS, 'hex')]).toString('base64url');
    const high = await post({ ...headers, 'X-AINP-Signature': flipped }, body);
    expect(high.status).toBe(401);
    expect(high.body.error).toBe('INVALID_SIGNATURE');

    // ECDSA signs with a random nonce: another valid signature of the same request is a replay.
    const message = new TextEncoder().encode(
      canonicalString('POST', '/api/intents', headers['X-AINP-Timestamp']!, body),
    );
    const second = Buffer.from(
      p256.sign(sha256(message), sk, { extraEntropy: true, lowS: true }).toCompactRawBytes(),
    ).toString('base64url');
    expect(second).not.toBe(sig);
    const again = await post({ ...headers, 'X-AINP-Signature': second }, body);
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('REPLAYED');
  });

  it('refuses small-order Ed25519 keys, under which anyone can make a signature verify', async () => {
    const identity = new Uint8Array(32);
    identity[0] = 1; // the neutral point: every (R = neutral, S = 0) verifies under it
    const did = didFromPublicKey('ed25519', identity);
    expect(() => parseDidKey(did)).toThrow(/small order/);
    const body = JSON.stringify(intent);
    const forged = Buffer.concat([Buffer.from(identity), Buffer.alloc(32)]).toString('base64url');
    const res = await post(
      { 'X-AINP-DID': did, 'X-AINP-Timestamp': String(Date.now()), 'X-AINP-Signature': forged },
      body,
    );
    expect(res.status).toBe(401);
    expect(res.body.message).toMatch(/small order/);
  });
});
