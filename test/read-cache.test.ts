import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../app/server.js';
import { agentBody, newClient } from './helpers/api.js';
import { cacheCount } from './helpers/metrics.js';
import { createTestStack, type TestStack } from './helpers/stack.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await createTestStack();
});

async function scenario(broker: RunningBroker) {
  const [owner, rater] = await Promise.all([newClient(broker.url), newClient(broker.url)]);
  const { body: agent } = await owner.post('/api/v1/agents/register', agentBody());
  const rep = () => rater.get(`/api/v1/agents/${agent.id}/reputation`);
  await rep();
  await rep();
  expect(await cacheCount(broker, 'reputation', 'miss')).toBe(1);
  expect(await cacheCount(broker, 'reputation', 'hit')).toBe(1);
  await rater.post('/api/v1/agents/feedback', { agent_id: agent.id, value: 70, value_decimals: 0 });
  expect((await rep()).body.total).toBe(1);
  expect(await cacheCount(broker, 'reputation', 'miss')).toBe(2);
  // Stats are cached too and a linked payment invalidates them.
  expect((await rater.get(`/api/v1/agents/${agent.id}/stats`)).body.payments.count).toBe(0);
  const linked = await rater.post('/api/v1/agents/link-payment', {
    agent_id: agent.id,
    chain_id: 1,
    tx_hash: `0x${randomBytes(32).toString('hex')}`,
    amount_atomic: '5',
  });
  expect(linked.status).toBe(201);
  expect((await rater.get(`/api/v1/agents/${agent.id}/stats`)).body.payments).toEqual({
    count: 1,
    total_atomic: '5',
  });
}

describe('reputation and stats cache', () => {
  it('hits in Valkey on repeat reads and misses after a write (never stale)', async () => {
    const broker = await stack.broker();
    await scenario(broker);
  });

  it('uses process memory the same way without REDIS_URL', async () => {
    const broker = await stack.broker({ REDIS_URL: undefined });
    await scenario(broker);
  });

  it('stays correct between two replicas sharing Valkey', async () => {
    const [a, b] = [await stack.broker(), await stack.broker()];
    const [owner, rater] = await Promise.all([newClient(a.url), newClient(a.url)]);
    const { body: agent } = await owner.post('/api/v1/agents/register', agentBody());
    const readB = async () =>
      (
        await fetch(`${b.url}/api/v1/agents/${agent.id}/reputation`, { headers: { 'X-API-Key': rater.key } })
      ).json() as any;
    expect((await readB()).total).toBe(0);
    await rater.post('/api/v1/agents/feedback', { agent_id: agent.id, value: 85, value_decimals: 0 });
    expect((await readB()).total).toBe(1);
  });
});
