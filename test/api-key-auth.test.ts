import type { Request, Response } from 'express';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AppContext } from '../app/context.js';
import { apiKeyAuth } from '../app/http/middleware/auth.js';
import { hashApiKey } from '../app/domain/api-keys.js';
import { call, newClient, type Client } from './helpers/api.js';
import { ADMIN_TOKEN, createTestStack, type TestStack } from './helpers/stack.js';

let stack: TestStack;
let base: string;
beforeAll(async () => {
  stack = await createTestStack();
  base = (await stack.broker()).url;
});

/**
 * apiKeyAuth on this file's real database, every query it sends counted, with no cache (every
 * request looks its key up) unless `cacheMs`. With `held`, the first lookup's answer (taken at
 * once) is handed back only when `held` resolves: a lookup still in flight.
 */
function auth(cacheMs = 0, held?: Promise<unknown>) {
  const queries: string[] = [];
  const db = {
    query: async (q: { text: string }, ...rest: unknown[]) => {
      queries.push(q.text);
      const answer = await (stack.db.query as (...a: unknown[]) => Promise<unknown>)(q, ...rest);
      if (held && queries.length === 1) await held;
      return answer;
    },
  };
  const ctx = { db, settings: { registry: { apiKeyCacheMs: cacheMs } } } as unknown as AppContext;
  return { ...apiKeyAuth(ctx), queries };
}

/** One request through `identify`: the key it resolved, or the error it refused with. */
function identify(a: ReturnType<typeof auth>, key: string) {
  const req = { headers: { authorization: `Bearer ${key}` } } as unknown as Request;
  const res = { locals: {} } as Response;
  return new Promise<Response['locals']['apiKey']>((resolve, reject) => {
    Promise.resolve(a.identify(req, res, () => resolve(res.locals.apiKey))).catch(reject);
  });
}

describe('API key lookups (apiKeyAuth)', () => {
  let client: Client;
  beforeAll(async () => {
    client = await newClient(base);
  });

  it('requests that arrive while a key is being looked up share that one lookup', async () => {
    const a = auth();
    const keys = await Promise.all(Array.from({ length: 20 }, () => identify(a, client.key)));
    expect(new Set(keys.map((k) => k?.address))).toEqual(new Set([client.address]));
    expect(a.queries).toHaveLength(1);
    // Once it answered, the next request (no cache here) looks the key up again.
    await identify(a, client.key);
    expect(a.queries).toHaveLength(2);
  });

  it('a revocation in this process is not answered by a lookup begun before it', async () => {
    const mine = await newClient(base);
    let release = () => {};
    const a = auth(0, new Promise<void>((r) => (release = r)));
    const before = identify(a, mine.key); // looked up, its answer not yet back
    await expect.poll(() => a.queries.length).toBe(1);
    const listed = await call(base, 'GET', '/api/admin/api-keys?limit=100', { token: ADMIN_TOKEN });
    const id = listed.body.api_keys.find((k: { prefix: string }) => mine.key.startsWith(k.prefix)).id;
    expect(
      (await call(base, 'DELETE', `/api/admin/api-keys/${id}`, { token: ADMIN_TOKEN })).status,
    ).toBeLessThan(300);
    a.forget(hashApiKey(mine.key));
    await expect(identify(a, mine.key)).rejects.toMatchObject({ status: 401 });
    expect(a.queries).toHaveLength(2);
    release();
    expect((await before)?.address).toBe(mine.address); // the answer of its time
  });

  it('cached answers from the cache for the key presented, nothing for an unknown key or none', async () => {
    const a = auth(60_000);
    await identify(a, client.key);
    const req = { headers: { authorization: `Bearer ${client.key}` } } as unknown as Request;
    expect(a.cached(req)?.address).toBe(client.address);
    expect(a.cached({ headers: { 'x-api-key': 'ainp_unknown' } } as unknown as Request)).toBeUndefined();
    expect(a.cached({ headers: {} } as unknown as Request)).toBeUndefined();
  });
});
