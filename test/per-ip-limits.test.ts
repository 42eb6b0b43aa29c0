import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import { beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../app/domain/api-keys.js';
import type { RunningBroker } from '../app/server.js';
import { agentBody, call, newClient } from './helpers/api.js';
import { newSigner, signed } from './helpers/ainp.js';
import { ADMIN_TOKEN, createTestStack, type TestStack } from './helpers/stack.js';

/**
 * SPEC section 10 (v3): above the per-DID and per-key limits, a per-IP limit bounds writes,
 * WebSocket connects and refused authentication, and the probes and /metrics are limited per IP.
 * Each test speaks from an address of its own (X-Forwarded-For behind TRUST_PROXY=1), so the
 * counts of one do not reach another: every broker of a stack shares its Valkey.
 */
let stack: TestStack;
beforeAll(async () => {
  stack = await createTestStack();
});

let n = 0;
const freshIp = () => `198.51.100.${++n}`;
const statuses = (rs: Array<{ status: number }>) => rs.map((r) => r.status);
const intent = { intent_type: 'x', description: 'from a fresh DID', budget_atomic: '1000' };

describe('per-IP limits (SPEC section 10, v3)', () => {
  it('bounds writes from fresh DIDs with no key and no funds, per IP (429 after RATE_LIMIT_IP_WRITE)', async () => {
    const broker = await stack.broker({ RATE_LIMIT_IP_WRITE: '5', TRUST_PROXY: '1' });
    const ip = freshIp();
    const results = [];
    for (let i = 0; i < 7; i++)
      results.push(
        await signed(broker.url, newSigner(), 'POST', '/api/intents', intent, { 'X-Forwarded-For': ip }),
      );
    // Each fresh DID is refused for its empty balance, and each counts against its address.
    expect(statuses(results)).toEqual([409, 409, 409, 409, 409, 429, 429]);
    expect(results[5]!.body).toMatchObject({ error: 'RATE_LIMIT_EXCEEDED', limit: 5, remaining: 0 });
    // Reads are not writes, and another address has its own budget.
    const read = await signed(broker.url, newSigner(), 'GET', '/api/discovery?limit=1', undefined, {
      'X-Forwarded-For': ip,
    });
    expect(read.status).toBe(200);
    const other = await signed(broker.url, newSigner(), 'POST', '/api/intents', intent, {
      'X-Forwarded-For': freshIp(),
    });
    expect(other.status).toBe(409);
  });

  it('bounds refused authentication per IP (bad signatures, unknown keys), while a known key passes', async () => {
    const broker = await stack.broker({ RATE_LIMIT_AUTH_FAILURE: '4', TRUST_PROXY: '1' });
    const client = await newClient(broker.url);
    const ip = freshIp();
    const as = { 'X-Forwarded-For': ip };
    // The operator's key, used once from this address (so it is known good in the cache).
    expect(
      (
        await call(broker.url, 'GET', '/api/v1/agents?limit=1', {
          headers: { ...as, 'X-API-Key': client.key },
        })
      ).status,
    ).toBe(200);
    const unknownKey = () =>
      call(broker.url, 'GET', '/api/v1/agents?limit=1', {
        headers: { ...as, 'X-API-Key': randomBytes(16).toString('hex') },
      });
    const badSignature = () =>
      signed(broker.url, newSigner(), 'POST', '/api/intents', intent, { ...as, 'X-AINP-Signature': 'AAAA' });
    const results = [await unknownKey(), await badSignature(), await unknownKey(), await badSignature()];
    expect(statuses(results)).toEqual([401, 401, 401, 401]);
    // Over the limit: refused before any lookup or verification, whatever is presented.
    expect(statuses([await unknownKey(), await badSignature()])).toEqual([429, 429]);
    const signedOk = await signed(broker.url, newSigner(), 'POST', '/api/intents', intent, as);
    expect(signedOk.status).toBe(429);
    // The known key still works from the same address; the admin token too.
    expect(
      (
        await call(broker.url, 'GET', '/api/v1/agents?limit=1', {
          headers: { ...as, 'X-API-Key': client.key },
        })
      ).status,
    ).toBe(200);
    expect(
      (await call(broker.url, 'GET', '/api/admin/api-keys?limit=1', { token: ADMIN_TOKEN, headers: as }))
        .status,
    ).toBe(200);
  });

  it('looks an unknown API key up once per cache period, not once per request', async () => {
    const broker = await stack.broker({
      RATE_LIMIT_AUTH_FAILURE: '1000',
      API_KEY_CACHE_SECONDS: '60',
      TRUST_PROXY: '1',
    });
    const key = randomBytes(16).toString('hex');
    const lookups = await countingKeyLookups(broker, hashApiKey(key));
    const as = { 'X-Forwarded-For': freshIp(), 'X-API-Key': key };
    for (let i = 0; i < 20; i++)
      expect((await call(broker.url, 'GET', '/api/v1/agents?limit=1', { headers: as })).status).toBe(401);
    expect(lookups()).toBe(1);
  });

  it('bounds WebSocket connects per IP, and refused connects count as refused authentication', async () => {
    const broker = await stack.broker({
      RATE_LIMIT_WS_CONNECT: '3',
      RATE_LIMIT_AUTH_FAILURE: '2',
      TRUST_PROXY: '1',
    });
    const client = await newClient(broker.url);
    const connect = (ip: string, key: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`${broker.url.replace('http', 'ws')}/ws`, {
          headers: { 'X-API-Key': key, 'X-Forwarded-For': ip },
        });
        ws.once('open', () => {
          ws.close();
          resolve(101);
        });
        ws.once('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          ws.terminate();
        });
        ws.once('error', () => undefined);
      });
    const ip = freshIp();
    expect([
      await connect(ip, client.key),
      await connect(ip, client.key),
      await connect(ip, client.key),
    ]).toEqual([101, 101, 101]);
    expect(await connect(ip, client.key)).toBe(429);
    const guesser = freshIp();
    expect([await connect(guesser, 'nope-1'), await connect(guesser, 'nope-2')]).toEqual([401, 401]);
    expect(await connect(guesser, client.key)).toBe(429);
  });

  it('limits /health, /metrics and /openapi.json per IP; the kubelet probes /live and /ready are not', async () => {
    const broker = await stack.broker({ RATE_LIMIT_PROBE: '3', TRUST_PROXY: '1' });
    const ip = freshIp();
    const get = async (path: string) =>
      (await fetch(`${broker.url}${path}`, { headers: { 'X-Forwarded-For': ip } })).status;
    expect([await get('/health'), await get('/metrics'), await get('/openapi.json')]).toEqual([
      200, 200, 200,
    ]);
    expect([await get('/health'), await get('/metrics'), await get('/openapi.json')]).toEqual([
      429, 429, 429,
    ]);
    for (let i = 0; i < 5; i++) expect([await get('/live'), await get('/ready')]).toEqual([200, 200]);
  });

  it('believes no X-Forwarded-For by default: a client cannot rotate its bucket', async () => {
    const broker = await stack.broker({ RATE_LIMIT_PROBE: '2' });
    const get = async (ip: string) =>
      (await fetch(`${broker.url}/health`, { headers: { 'X-Forwarded-For': ip } })).status;
    expect([await get(freshIp()), await get(freshIp()), await get(freshIp())]).toEqual([200, 200, 429]);
  });
});

describe('refused input is not echoed without bound', () => {
  it('names at most 20 unknown fields of a body with 8,000', async () => {
    const broker = await stack.broker();
    const client = await newClient(broker.url);
    const extra = Object.fromEntries(Array.from({ length: 8000 }, (_, i) => [`k${i}`, 1]));
    const res = await fetch(`${broker.url}/api/v1/agents/register`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-API-Key': client.key },
      body: JSON.stringify(agentBody(extra)),
    });
    const text = await res.text();
    expect(res.status).toBe(400);
    expect(text.length).toBeLessThan(4096);
    const details = JSON.parse(text).details as Array<{ keys?: string[]; more_keys?: number }>;
    expect(details[0]!.keys).toHaveLength(20);
    expect(details[0]!.more_keys).toBe(7980);
  });
});

/** Counts the broker's API-key lookups of one hash (its pool's queries carrying it). */
async function countingKeyLookups(broker: RunningBroker, hash: string): Promise<() => number> {
  let count = 0;
  const db = broker.ctx.db as unknown as { query: (...args: unknown[]) => unknown };
  const query = db.query.bind(db);
  db.query = (...args: unknown[]) => {
    const values = (typeof args[0] === 'object' ? (args[0] as { values?: unknown[] }).values : args[1]) as
      unknown[] | undefined;
    if (values?.includes(hash)) count += 1;
    return query(...args);
  };
  return () => count;
}
