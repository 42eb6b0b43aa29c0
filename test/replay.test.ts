import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { signedHeaders } from '../app/domain/did-signing.js';
import { startRedisServer, type LocalService } from '../app/local/child-service.js';
import { freePort } from '../app/local/free-port.js';
import type { RunningBroker } from '../app/server.js';
import { fund, newSigner, signed, type Signer } from './helpers/ainp.js';
import { createTestStack, type TestStack } from './helpers/stack.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await createTestStack();
});

/** A signed intent, captured once (headers and body) so it can be sent again byte for byte. */
function capturedIntent(client: Signer, description: string) {
  const body = JSON.stringify({ intent_type: 'x', description, budget_atomic: '1000' });
  return {
    headers: { ...signedHeaders(client, 'POST', '/api/intents', body), 'Content-Type': 'application/json' },
    body,
  };
}

async function send(broker: RunningBroker, req: ReturnType<typeof capturedIntent>) {
  const res = await fetch(`${broker.url}/api/intents`, { method: 'POST', ...req });
  return { status: res.status, body: (await res.json()) as { error?: string } };
}

async function redisState(broker: RunningBroker): Promise<string> {
  const res = await fetch(`${broker.url}/health`);
  return ((await res.json()) as { checks: { redis: string } }).checks.redis;
}

async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('replayed signed writes (SPEC section 10, v3: replay keys in PostgreSQL)', () => {
  it('refuses a captured write with Valkey down, after Valkey returns and on another replica (409 each time), and moves its money once', async () => {
    const port = await freePort();
    let redis: LocalService | undefined = await startRedisServer(path.join(stack.dir, 'replay-redis'), port);
    const env = { REDIS_URL: `redis://127.0.0.1:${port}` };
    const [a, b] = [await stack.broker(env), await stack.broker(env)];
    try {
      const client = newSigner();
      await fund(a.url, client.did, '10000');

      const before = capturedIntent(client, 'sent while Valkey is up');
      expect((await send(a, before)).status).toBe(201);
      expect(await send(b, before)).toMatchObject({ status: 409, body: { error: 'REPLAYED' } });

      await redis!.stop();
      redis = undefined;
      await until('both replicas to see Valkey down', async () =>
        (await Promise.all([redisState(a), redisState(b)])).every((s) => s === 'down'),
      );
      // The outage: what Valkey saw is out of reach, and what is sent now is not written to it.
      expect(await send(a, before)).toMatchObject({ status: 409, body: { error: 'REPLAYED' } });
      expect(await send(b, before)).toMatchObject({ status: 409, body: { error: 'REPLAYED' } });
      const during = capturedIntent(client, 'sent while Valkey is down');
      expect((await send(a, during)).status).toBe(201);
      expect(await send(a, during)).toMatchObject({ status: 409, body: { error: 'REPLAYED' } });
      expect(await send(b, during)).toMatchObject({ status: 409, body: { error: 'REPLAYED' } });

      redis = await startRedisServer(path.join(stack.dir, 'replay-redis'), port);
      await until('both replicas to see Valkey up', async () =>
        (await Promise.all([redisState(a), redisState(b)])).every((s) => s === 'up'),
      );
      for (const req of [before, during])
        for (const broker of [a, b])
          expect(await send(broker, req)).toMatchObject({ status: 409, body: { error: 'REPLAYED' } });

      // Two intents escrowed, not more: each write moved its money once.
      const credits = await signed(a.url, client, 'GET', `/api/credits/${encodeURIComponent(client.did)}`);
      expect(credits.body).toMatchObject({ available: '8000', escrow: '2000' });
      const { rows } = await stack.db.query<{ n: string }>(
        `SELECT count(*)::text AS n FROM intents WHERE client_did = $1`,
        [client.did],
      );
      expect(rows[0]!.n).toBe('2');
    } finally {
      await redis?.stop();
    }
  });

  it('refuses a replay after the broker restarts, without Valkey at all', async () => {
    const first = await stack.broker({ REDIS_URL: undefined });
    const client = newSigner();
    await fund(first.url, client.did, '5000');
    const req = capturedIntent(client, 'before the restart');
    expect((await send(first, req)).status).toBe(201);
    await first.stop();
    const second = await stack.broker({ REDIS_URL: undefined });
    expect(await send(second, req)).toMatchObject({ status: 409, body: { error: 'REPLAYED' } });
  });

  it('keeps one window of keys: expired keys are swept by later writes', async () => {
    const broker = await stack.broker();
    await stack.db.query(
      `INSERT INTO replay_keys (key, expires_at)
       SELECT decode(md5(i::text) || md5((i + 1)::text), 'hex'), now() - interval '1 hour'
       FROM generate_series(1, 150) i`,
    );
    const client = newSigner();
    await fund(broker.url, client.did, '1000');
    expect((await send(broker, capturedIntent(client, 'sweeps'))).status).toBe(201);
    const { rows } = await stack.db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM replay_keys WHERE expires_at < now()`,
    );
    expect(rows[0]!.n).toBe('0');
  });
});
