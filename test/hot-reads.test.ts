import { request } from 'node:http';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { RunningBroker } from '../app/server.js';
import { agentBody, newClient, type Client } from './helpers/api.js';
import { newSigner, registerWithDid, type Signer } from './helpers/ainp.js';
import { createTestStack, type TestStack } from './helpers/stack.js';

let stack: TestStack;
let hot: RunningBroker;
let full: RunningBroker;
let owner: Client;
let signer: Signer;
let agentId: string;
const LIMITS = { RATE_LIMIT_GET: '1000', RATE_LIMIT_API_READ: '900' };
beforeAll(async () => {
  stack = await createTestStack();
  // Same limits on both; the second keeps no cache, so every read takes the full Express chain.
  // The two classes differ, so a short path counting a read against the wrong class shows in the
  // RateLimit-* headers compared below.
  hot = await stack.broker(LIMITS);
  full = await stack.broker({ ...LIMITS, LOCAL_CACHE_TTL_MS: '0' });
  owner = await newClient(hot.url);
  signer = newSigner();
  const res = await registerWithDid(hot.url, owner, signer, agentBody({ name: 'hot' }));
  expect(res.status).toBe(201);
  agentId = res.body.id;
});

/** Counts the reads `broker` answered on the short path (LocalCache.hit is called by it alone). */
function shortPathCount(broker: RunningBroker) {
  return vi.spyOn(broker.ctx.localCache, 'hit');
}

const get = (broker: RunningBroker, path: string, headers: Record<string, string>) =>
  fetch(`${broker.url}${path}`, { headers });

/** Everything a response says, but the Date and the seconds until the window resets. */
async function answer(res: Response) {
  const headers = Object.fromEntries(
    [...res.headers].filter(([k]) => k !== 'date' && k !== 'ratelimit-reset'),
  );
  return {
    status: res.status,
    headers,
    body: await res.text(),
    reset: Number(res.headers.get('ratelimit-reset')),
  };
}

/** Reads (each 200) until `broker` has answered one on the short path; returns how many it took. */
async function untilShort(broker: RunningBroker, read: () => Promise<Response>) {
  const spy = shortPathCount(broker);
  for (let i = 1; i <= 50; i++) {
    const res = await read();
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`warm-up read ${i}: ${res.status}`);
    if (spy.mock.calls.length > 0) {
      spy.mockRestore();
      return i;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  spy.mockRestore();
  throw new Error('no read took the short path');
}

describe('hot reads: agent and reputation answered before the Express chain (issue 16)', () => {
  for (const [name, path] of [
    ['GET /api/v1/agents/{id}', () => `/api/v1/agents/${agentId}`],
    ['GET /api/reputation/{did} (DID as sent)', () => `/api/reputation/${signer.did}`],
    ['GET /api/reputation/{did} (DID escaped)', () => `/api/reputation/${encodeURIComponent(signer.did)}`],
  ] as const)
    it(`${name}: the short path answers what the full chain answers`, async () => {
      // A key of its own per broker, so both count the same hits against their limit.
      const [hotKey, fullKey] = [(await newClient(hot.url)).key, (await newClient(hot.url)).key];
      const warmUp = await untilShort(hot, () => get(hot, path(), { 'X-API-Key': hotKey }));
      for (let i = 0; i < warmUp; i++)
        await (await get(full, path(), { 'X-API-Key': fullKey })).arrayBuffer();

      const spy = shortPathCount(hot);
      const requestId = `hot-${Date.now()}`;
      const viaShort = await answer(
        await get(hot, path(), { 'X-API-Key': hotKey, 'X-Request-ID': requestId }),
      );
      expect(spy).toHaveBeenCalledTimes(1);
      spy.mockRestore();
      const viaFull = await answer(
        await get(full, path(), { 'X-API-Key': fullKey, 'X-Request-ID': requestId }),
      );

      expect(viaShort.status).toBe(200);
      expect(viaShort.headers['x-request-id']).toBe(requestId);
      const limit = path().startsWith('/api/reputation/') ? 900 : 1000;
      expect(viaShort.headers['ratelimit-limit']).toBe(String(limit));
      expect(viaShort.headers['ratelimit-remaining']).toBe(String(limit - warmUp - 1));
      expect(viaShort.headers).toEqual(viaFull.headers);
      expect(viaShort.body).toBe(viaFull.body);
      expect(Math.abs(viaShort.reset - viaFull.reset)).toBeLessThanOrEqual(1);
      // A client without an X-Request-ID gets a fresh one, as from the full chain.
      const fresh = await get(hot, path(), { 'X-API-Key': hotKey });
      expect(fresh.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    });

  it('counts the read in the same metrics as the full chain', async () => {
    const key = (await newClient(hot.url)).key;
    const path = `/api/v1/agents/${agentId}`;
    await untilShort(hot, () => get(hot, path, { 'X-API-Key': key }));
    const metric = async () => {
      const text = await (await fetch(`${hot.url}/metrics`)).text();
      const count = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
      return {
        requests: count(
          /ainp_http_requests_total\{method="GET",route="\/api\/v1\/agents\/:id",status="200"\} (\d+)/,
        ),
        timed: count(
          /ainp_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/agents\/:id",status="200"\} (\d+)/,
        ),
        hits: count(/ainp_cache_requests_total\{kind="agent",result="local_hit"\} (\d+)/),
      };
    };
    const before = await metric();
    const spy = shortPathCount(hot);
    for (let i = 0; i < 5; i++) expect((await get(hot, path, { 'X-API-Key': key })).status).toBe(200);
    expect(spy).toHaveBeenCalledTimes(5);
    spy.mockRestore();
    expect(await metric()).toEqual({
      requests: before.requests + 5,
      timed: before.timed + 5,
      hits: before.hits + 5,
    });
  });

  it('leaves to the full chain what it cannot answer the same way', async () => {
    const key = (await newClient(hot.url)).key;
    const path = `/api/v1/agents/${agentId}`;
    await untilShort(hot, () => get(hot, path, { 'X-API-Key': key }));
    const spy = shortPathCount(hot);
    // A conditional GET: 304 from Express's freshness check.
    const etag = (await get(hot, path, { 'X-API-Key': key })).headers.get('etag')!;
    expect(spy).toHaveBeenCalledTimes(1);
    const conditional = await get(hot, path, {
      'X-API-Key': key,
      'If-None-Match': etag,
      'Cache-Control': 'max-age=0',
    });
    expect(conditional.status).toBe(304);
    // A browser's request: CORS answers its origin.
    const cors = await get(hot, path, { 'X-API-Key': key, Origin: 'https://evil.example' });
    expect(cors.status).toBe(200);
    expect(cors.headers.get('access-control-allow-origin')).toBeNull();
    // No key, an unknown key, a DID header without a signature, a query string, a trailing slash.
    expect((await get(hot, path, {})).status).toBe(401);
    expect((await get(hot, path, { 'X-API-Key': 'ainp_not-a-key' })).status).toBe(401);
    expect((await get(hot, path, { 'X-API-Key': key, 'X-AINP-DID': signer.did })).status).toBe(401);
    expect((await get(hot, `${path}?x=1`, { 'X-API-Key': key })).status).toBe(200);
    expect((await get(hot, `${path}/`, { 'X-API-Key': key })).status).toBe(200);
    // An escape that decodes to nothing cached, and one that does not decode at all.
    expect((await get(hot, `/api/reputation/did%3Akey%3Anobody`, { 'X-API-Key': key })).status).toBe(404);
    expect((await get(hot, `/api/reputation/%E0%A4%A`, { 'X-API-Key': key })).status).toBe(400);
    // A GET with a body goes through the body checks (415: not JSON).
    const withBody = await new Promise<number>((resolve, reject) => {
      const req = request(`${hot.url}${path}`, {
        method: 'GET',
        headers: { 'X-API-Key': key, 'Content-Type': 'text/plain', 'Content-Length': '2' },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.end('hi');
    });
    expect(withBody).toBe(415);
    expect(spy).toHaveBeenCalledTimes(1);
    spy.mockRestore();
  });

  it('counts against the same rate limit: the hit over the limit is 429 (exact on one replica)', async () => {
    const limited = await stack.broker({ RATE_LIMIT_GET: '300' });
    const key = (await newClient(limited.url)).key;
    const path = `/api/v1/agents/${agentId}`;
    const warmUp = await untilShort(limited, () => get(limited, path, { 'X-API-Key': key }));
    const spy = shortPathCount(limited);
    const statuses: number[] = [];
    for (let i = warmUp; i < 302; i++) {
      const res = await get(limited, path, { 'X-API-Key': key });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    // A limit of 300 has a batch of 3 (1 %): two hits of three are answered on the short path,
    // the third syncs with Valkey first.
    expect(spy.mock.calls.length).toBeGreaterThan(150);
    spy.mockRestore();
    statuses.unshift(...Array<number>(warmUp).fill(200));
    expect(statuses.slice(0, 300).every((s) => s === 200)).toBe(true);
    expect(statuses.slice(300)).toEqual([429, 429]);
  });

  it('stops answering a value once its invalidation arrives', async () => {
    const key = (await newClient(hot.url)).key;
    const path = `/api/v1/agents/${agentId}`;
    await untilShort(hot, () => get(hot, path, { 'X-API-Key': key }));
    // Changed through the other broker: the event relay drops the value here.
    const patched = await fetch(`${full.url}/api/v1/agents/${agentId}`, {
      method: 'PATCH',
      headers: { 'X-API-Key': owner.key, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'changed elsewhere' }),
    });
    expect(patched.status).toBe(200);
    const deadline = Date.now() + 5000;
    let name = '';
    while (Date.now() < deadline && name !== 'changed elsewhere') {
      name = ((await (await get(hot, path, { 'X-API-Key': key })).json()) as { name: string }).name;
      if (name !== 'changed elsewhere') await new Promise((r) => setTimeout(r, 10));
    }
    expect(name).toBe('changed elsewhere');
  });
});
