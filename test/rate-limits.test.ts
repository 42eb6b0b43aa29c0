import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { createClient } from 'redis';
import { beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer } from '../app/local/child-service.js';
import { freePort } from '../app/local/free-port.js';
import { agentBody, newClient } from './helpers/api.js';
import { fund, newSigner, signed } from './helpers/ainp.js';
import { ADMIN_TOKEN, createTestStack, type TestStack } from './helpers/stack.js';
import pino from 'pino';
import { RedisHandle } from '../app/data/redis.js';
import { SyncedRateLimitStore } from '../app/data/rate-limit-store.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await createTestStack();
});

describe('rate limits', () => {
  it('gives 15 rapid registrations on a 10-per-minute limit exactly 10 successes, then 429 with Retry-After', async () => {
    const broker = await stack.broker();
    const client = await newClient(broker.url);
    const results = [];
    for (let i = 0; i < 15; i++)
      results.push(await client.post('/api/v1/agents/register', agentBody({ name: `r${i}` })));
    expect(results.map((r) => r.status)).toEqual([...Array(10).fill(201), ...Array(5).fill(429)]);
    const limited = results[14]!;
    expect(limited.body).toMatchObject({ error: 'RATE_LIMIT_EXCEEDED', limit: 10, remaining: 0 });
    expect(limited.body.retry_after).toBeGreaterThan(0);
    expect(limited.body.retry_after).toBeLessThanOrEqual(60);
    expect(limited.body.reset).toBe(limited.body.retry_after);
    expect(Number(limited.headers.get('retry-after'))).toBe(limited.body.retry_after);
    expect(results[0]!.headers.get('ratelimit-limit')).toBe('10');
    expect(results[0]!.headers.get('ratelimit-remaining')).toBe('9');
    // Limits are per key and per route: another key, and another route, still pass.
    const other = await newClient(broker.url);
    expect((await other.post('/api/v1/agents/register', agentBody())).status).toBe(201);
    expect((await client.get('/api/v1/agents?limit=1')).status).toBe(200);
    const metrics = await (await fetch(`${broker.url}/metrics`)).text();
    expect(metrics).toMatch(/ainp_rate_limited_total\{limit="register"\} 5/);
  });

  it('shares one budget between two broker processes through Valkey', async () => {
    const env = { RATE_LIMIT_SEARCH: '10' };
    const [a, b] = [await stack.broker(env), await stack.broker(env)];
    const client = await newClient(a.url);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const target = i % 2 === 0 ? a.url : b.url;
      statuses.push(
        (await fetch(`${target}/api/v1/agents`, { headers: { 'X-API-Key': client.key } })).status,
      );
      statuses.push(
        (await fetch(`${target}/api/v1/agents`, { headers: { 'X-API-Key': client.key } })).status,
      );
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(6);
  });

  it('keeps limiting on a local store while Valkey is down, and shares again when it returns', async () => {
    const port = await freePort();
    let redis = await startRedisServer(path.join(stack.dir, 'rl-redis'), port);
    const broker = await stack.broker({ REDIS_URL: redis!.url, RATE_LIMIT_GET: '3' });
    const client = await newClient(broker.url);
    const { body: agent } = await client.post('/api/v1/agents/register', agentBody());
    await redis!.stop();
    await waitFor(
      async () => (await (await fetch(`${broker.url}/health`)).json()) as any,
      (h) => h.checks.redis === 'down',
    );

    const during = [];
    for (let i = 0; i < 5; i++) during.push((await client.get(`/api/v1/agents/${agent.id}`)).status);
    expect(during).toEqual([200, 200, 200, 429, 429]);

    redis = await startRedisServer(path.join(stack.dir, 'rl-redis'), port);
    try {
      await waitFor(
        async () => (await (await fetch(`${broker.url}/health`)).json()) as any,
        (h) => h.checks.redis === 'up',
      );
      const other = await newClient(broker.url);
      expect((await other.get(`/api/v1/agents/${agent.id}`)).status).toBe(200);
      const probe = createClient({ url: redis!.url });
      await probe.connect();
      const keys = await probe.keys('rl:get:*');
      await probe.close();
      expect(keys.length).toBeGreaterThan(0);
    } finally {
      await redis?.stop();
    }
  });
});

describe('counting in batches (SyncedRateLimitStore)', () => {
  const replicas = async (n: number, limit: number, share = 0.01) => {
    const handles = Array.from(
      { length: n },
      () => new RedisHandle(stack.redis.url, pino({ level: 'silent' })),
    );
    await Promise.all(handles.map((h) => h.connect()));
    const prefix = `rl:test-${randomUUID()}:`;
    const stores = handles.map((h) => {
      const store = new SyncedRateLimitStore(h, prefix, { batchShare: share, flushMs: 50, maxKeys: 1000 });
      store.init({ windowMs: 60_000, limit } as never);
      return store;
    });
    const close = async () => {
      for (const s of stores) s.shutdown();
      await Promise.all(handles.map((h) => h.close()));
    };
    return { stores, handles, prefix, close };
  };

  it('admits at most limit + R × batch across three replicas hammering one key, and every hit reaches Valkey', async () => {
    const { stores, handles, prefix, close } = await replicas(3, 1000);
    try {
      expect(stores[0]!.batchSize).toBe(10);
      // 3 × 1000 hits, interleaved, 50 in flight per replica at a time.
      let admitted = 0;
      await Promise.all(
        stores.map(async (store) => {
          for (let round = 0; round < 20; round++) {
            const got = await Promise.all(Array.from({ length: 50 }, () => store.increment('k')));
            admitted += got.filter((r) => r.totalHits <= 1000).length;
          }
        }),
      );
      expect(admitted).toBeGreaterThanOrEqual(1000);
      expect(admitted).toBeLessThanOrEqual(1000 + 3 * 10);
      await Promise.all(stores.map((s) => s.flush()));
      expect(Number(await handles[0]!.client!.get(`${prefix}k`))).toBe(3000);
      const ttl = await handles[0]!.client!.pTTL(`${prefix}k`);
      expect(ttl).toBeGreaterThan(50_000);
      expect(ttl).toBeLessThanOrEqual(60_000);
    } finally {
      await close();
    }
  });

  it('syncs every hit when the batch would be under 2: a limit of 150 is exact across replicas', async () => {
    const { stores, close } = await replicas(2, 150);
    try {
      expect(stores[0]!.batchSize).toBe(1);
      const results = await Promise.all(Array.from({ length: 400 }, (_, i) => stores[i % 2]!.increment('k')));
      expect(results.filter((r) => r.totalHits <= 150)).toHaveLength(150);
    } finally {
      await close();
    }
  });

  it('admits locally (the hot read path) only what increment would admit without waiting, within the same bound', async () => {
    const { stores, handles, prefix, close } = await replicas(3, 1000);
    try {
      const [a] = stores;
      // Before the key's first sync of the window, nothing is admitted locally.
      expect(a!.admitLocally('k', 1000)).toBeUndefined();
      expect((await a!.increment('k')).totalHits).toBe(1);
      // Then batch - 1 hits (9 of a batch of 10), each with its place in the count, and no more.
      const local = Array.from({ length: 12 }, () => a!.admitLocally('k', 1000)?.totalHits);
      expect(local).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, undefined, undefined, undefined]);
      // Three replicas, every hit tried locally first as the hot path does: the bound still holds
      // and every hit, local or not, reaches Valkey.
      let admitted = 10;
      let hits = 10;
      let locally = 0;
      await Promise.all(
        stores.map(async (store) => {
          for (let round = 0; round < 20; round++) {
            const got = await Promise.all(
              Array.from({ length: 50 }, async () => {
                hits += 1;
                const fast = store.admitLocally('k', 1000);
                if (fast) locally += 1;
                return fast ?? (await store.increment('k'));
              }),
            );
            admitted += got.filter((r) => r.totalHits <= 1000).length;
          }
        }),
      );
      expect(locally).toBeGreaterThan(0);
      expect(admitted).toBeGreaterThanOrEqual(1000);
      expect(admitted).toBeLessThanOrEqual(1000 + 3 * 10);
      await Promise.all(stores.map((s) => s.flush()));
      const counted = Number(await handles[0]!.client!.get(`${prefix}k`));
      // admitLocally never counts a hit it refuses (over the limit): those reach Valkey through increment.
      expect(counted).toBe(hits);
    } finally {
      await close();
    }
  });

  it('sees hits another replica sent before its own first hit of the window', async () => {
    const { stores, close } = await replicas(2, 1000);
    try {
      for (let i = 0; i < 400; i++) await stores[0]!.increment('k');
      await stores[0]!.flush();
      const first = await stores[1]!.increment('k');
      expect(first.totalHits).toBe(401);
    } finally {
      await close();
    }
  });
});

async function waitFor<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`condition not met: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('rate limits on every /api route (SPEC section 10)', () => {
  it('limits signed writes per DID, finalize per IP, and /api reads per caller', async () => {
    const broker = await stack.broker({
      RATE_LIMIT_SIGNED_WRITE: '5',
      RATE_LIMIT_FINALIZE: '3',
      RATE_LIMIT_API_READ: '4',
    });
    const intent = { intent_type: 'x', description: 'y', budget_atomic: '1000' };
    const one = newSigner();
    const fresh = newSigner();
    await fund(broker.url, one.did, '7000');
    await fund(broker.url, fresh.did, '1000');
    const intents = [];
    for (let i = 0; i < 7; i++)
      intents.push((await signed(broker.url, one, 'POST', '/api/intents', intent)).status);
    expect(intents).toEqual([201, 201, 201, 201, 201, 429, 429]);
    // Per DID: a fresh DID from the same address still writes.
    expect((await signed(broker.url, fresh, 'POST', '/api/intents', intent)).status).toBe(201);

    // Finalize needs no credentials, so it is counted per client IP whoever signs.
    const finalizes = [];
    for (let i = 0; i < 5; i++) {
      const res = await signed(broker.url, newSigner(), 'POST', `/api/receipts/${randomUUID()}/finalize`);
      finalizes.push(res.status);
    }
    expect(finalizes).toEqual([404, 404, 404, 429, 429]);

    const client = await newClient(broker.url);
    const reads = [];
    for (let i = 0; i < 6; i++) reads.push((await client.get('/api/discovery?q=x')).status);
    expect(reads).toEqual([200, 200, 200, 200, 429, 429]);
  });

  it('counts refused admin requests per IP (token guessing), not the successful ones of an operator, and never locks the token out', async () => {
    // A client IP of its own (behind TRUST_PROXY): every broker on this stack counts admin requests
    // from 127.0.0.1 in the same Valkey key, and one whose last key creation (a success, counted
    // then given back) was not yet synced (RATE_LIMIT_FLUSH_MS) would add one to this test's count.
    const broker = await stack.broker({ RATE_LIMIT_ADMIN: '3', TRUST_PROXY: '1' });
    const admin = (token: string) =>
      fetch(`${broker.url}/api/admin/api-keys?limit=1`, {
        headers: { Authorization: `Bearer ${token}`, 'X-Forwarded-For': '198.51.100.23' },
      }).then((r) => r.status);
    const ok = [];
    for (let i = 0; i < 5; i++) ok.push(await admin(ADMIN_TOKEN));
    expect(ok).toEqual([200, 200, 200, 200, 200]);
    const guesses = [];
    for (let i = 0; i < 5; i++) guesses.push(await admin(`guess-${i}`));
    expect(guesses).toEqual([401, 401, 401, 429, 429]);
    // The guesses are locked out for the window; the right token is not (it is known good).
    expect(await admin(ADMIN_TOKEN)).toBe(200);
    expect(await admin('guess-again')).toBe(429);
  });

  it('counts per client IP behind TRUST_PROXY=1 (one ingress hop), not one bucket for everyone', async () => {
    const broker = await stack.broker({ RATE_LIMIT_FINALIZE: '2', TRUST_PROXY: '1' });
    const finalize = (ip: string) =>
      fetch(`${broker.url}/api/receipts/${randomUUID()}/finalize`, {
        method: 'POST',
        headers: { 'X-Forwarded-For': ip },
      }).then((r) => r.status);
    const first = [];
    for (let i = 0; i < 3; i++) first.push(await finalize('203.0.113.7'));
    expect(first).toEqual([404, 404, 429]);
    expect(await finalize('203.0.113.8')).toBe(404);
  });

  it('documents a rate limit on every route but the kubelet probes, /docs and the WebSocket', async () => {
    const broker = await stack.broker();
    const doc = (await (await fetch(`${broker.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { 'x-ainp-rate-limit'?: unknown }>>;
    };
    const unlimited = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.entries(ops)
        .filter(([, op]) => !op['x-ainp-rate-limit'])
        .map(([m]) => `${m.toUpperCase()} ${p}`),
    );
    expect(unlimited.sort()).toEqual(
      [
        'GET /docs',
        'GET /live',
        'GET /ready',
        // Limited per IP at the upgrade (RATE_LIMIT_WS_CONNECT) and capped per identity.
        'GET /ws',
      ].filter((r) => r !== 'GET /docs' || unlimited.includes(r)), // /docs is HTML, maybe undocumented
    );
  });
});
