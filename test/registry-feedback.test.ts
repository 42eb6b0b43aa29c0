import { beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../app/server.js';
import { agentBody, newClient, randomAddress, type Client } from './helpers/api.js';
import { createTestStack } from './helpers/stack.js';

let broker: RunningBroker;
let owner: Client;
let rater: Client;
let agentId: string;

beforeAll(async () => {
  const stack = await createTestStack();
  broker = await stack.broker({ TRUST_MIN_FEEDBACK: '2' });
  [owner, rater] = await Promise.all([newClient(broker.url), newClient(broker.url)]);
  agentId = (await owner.post('/api/v1/agents/register', agentBody())).body.id;
});

const feedback = (c: Client, extra: Record<string, unknown> = {}) =>
  c.post('/api/v1/agents/feedback', { agent_id: agentId, value: 90, value_decimals: 0, ...extra });

describe('POST /api/v1/agents/feedback', () => {
  it('records feedback with feedback_index per (agent, client) starting at 1', async () => {
    const a = await rater.post('/api/v1/agents/feedback', {
      agent_id: agentId,
      value: 9500,
      value_decimals: 2,
      tag1: 'quality',
      proof_of_payment: {
        chain_id: 8453,
        tx_hash: `0x${'ab'.repeat(32)}`,
        from_address: rater.address,
        to_address: owner.address,
      },
    });
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({
      feedback_index: 1,
      client_address: rater.address,
      value: '9500',
      value_decimals: 2,
      score: 95,
    });
    const b = await feedback(rater);
    expect(b.body.feedback_index).toBe(2);
    const third = await newClient(broker.url);
    expect((await feedback(third)).body.feedback_index).toBe(1);
  });

  it('forbids an owner rating its own agent (403 SELF_FEEDBACK)', async () => {
    const res = await feedback(owner);
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('SELF_FEEDBACK');
  });

  it('forbids giving feedback as another client address (403)', async () => {
    const res = await feedback(rater, { client_address: randomAddress() });
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('FORBIDDEN');
  });

  it('validates value_decimals 0..18, integer values, tags of at most 64 characters', async () => {
    for (const bad of [{ value_decimals: 19 }, { value: 1.5 }, { tag2: 'x'.repeat(65) }, { value: 'abc' }]) {
      const res = await feedback(rater, bad);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('VALIDATION_ERROR');
    }
  });

  it('is 404 for an unknown agent', async () => {
    expect((await feedback(rater, { agent_id: '6f9619ff-8b86-4011-b42d-00c04fc964ff' })).status).toBe(404);
  });
});

describe('revoke and responses', () => {
  it('revokes once (409 after), only by that client, and 404 for an index never given', async () => {
    const given = await feedback(rater, { value: 40 });
    const path = `/api/v1/agents/${agentId}/feedback/${rater.address}/${given.body.feedback_index}/revoke`;
    expect((await owner.post(path)).status).toBe(403);
    const res = await rater.post(path);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ revoked: true, feedback_index: given.body.feedback_index });
    const again = await rater.post(path);
    expect(again.status).toBe(409);
    const never = await rater.post(`/api/v1/agents/${agentId}/feedback/${rater.address}/999/revoke`);
    expect(never.status).toBe(404);
  });

  it('lets any key respond with a response_uri, which is required', async () => {
    const path = `/api/v1/agents/${agentId}/feedback/${rater.address}/1/responses`;
    const res = await owner.post(path, { response_uri: 'ipfs://bafy-response' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      responder_address: owner.address,
      response_uri: 'ipfs://bafy-response',
    });
    expect((await owner.post(path, {})).status).toBe(400);
    expect((await owner.post(path, { response_uri: 'javascript:alert(1)' })).status).toBe(400);
    expect(
      (
        await owner.post(`/api/v1/agents/${agentId}/feedback/${rater.address}/999/responses`, {
          response_uri: 'ipfs://bafy-response',
        })
      ).status,
    ).toBe(404);
  });
});

describe('GET /api/v1/agents/:id/reputation', () => {
  it('is 404 for an unknown agent', async () => {
    const res = await rater.get('/api/v1/agents/6f9619ff-8b86-4011-b42d-00c04fc964ff/reputation');
    expect(res.status).toBe(404);
    expect(res.body.error).toBe('NOT_FOUND');
  });

  it('summarises live feedback and never serves a stale value after a write', async () => {
    const c = await newClient(broker.url);
    const { body: agent } = await owner.post('/api/v1/agents/register', agentBody());
    const rep = () => c.get(`/api/v1/agents/${agent.id}/reputation`);
    expect((await rep()).body).toEqual({
      total: 0,
      average: 0,
      positive: 0,
      negative: 0,
      revoked: 0,
      last_feedback_at: null,
      trust_level: 'new',
    });
    await c.post('/api/v1/agents/feedback', { agent_id: agent.id, value: 100, value_decimals: 0 });
    expect((await rep()).body).toMatchObject({ total: 1, average: 100, positive: 1, trust_level: 'new' });
    await c.post('/api/v1/agents/feedback', { agent_id: agent.id, value: 30, value_decimals: 0 });
    expect((await rep()).body).toMatchObject({
      total: 2,
      average: 65,
      positive: 1,
      negative: 1,
      trust_level: 'fair',
    });
    await c.post(`/api/v1/agents/${agent.id}/feedback/${c.address}/2/revoke`);
    const after = (await rep()).body;
    expect(after).toMatchObject({ total: 1, average: 100, negative: 0, revoked: 1 });
    expect(after.last_feedback_at).not.toBeNull();
  });
});

describe('POST /api/v1/agents/link-payment and stats', () => {
  it('links a payment once, repeats idempotently, and refuses the same tx for another agent', async () => {
    const { body: other } = await owner.post('/api/v1/agents/register', agentBody());
    const tx = `0x${'cd'.repeat(32)}`;
    const body = { agent_id: agentId, chain_id: 8453, tx_hash: tx, amount_atomic: '1500000', asset: 'USDC' };
    const first = await rater.post('/api/v1/agents/link-payment', body);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      amount_atomic: '1500000',
      from_address: rater.address,
      agent_id: agentId,
    });
    const again = await rater.post('/api/v1/agents/link-payment', body);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    const elsewhere = await rater.post('/api/v1/agents/link-payment', { ...body, agent_id: other.id });
    expect(elsewhere.status).toBe(409);
    const stats = await rater.get(`/api/v1/agents/${agentId}/stats`);
    expect(stats.status).toBe(200);
    expect(stats.body.payments).toEqual({ count: 1, total_atomic: '1500000' });
  });

  it('keeps amounts exact beyond 2^53 and rejects non-integer amounts', async () => {
    const big = '123456789012345678901234567890';
    const res = await rater.post('/api/v1/agents/link-payment', {
      agent_id: agentId,
      chain_id: 1,
      tx_hash: `0x${'ef'.repeat(32)}`,
      amount_atomic: big,
    });
    expect(res.status).toBe(201);
    expect(res.body.amount_atomic).toBe(big);
    const bad = await rater.post('/api/v1/agents/link-payment', {
      agent_id: agentId,
      chain_id: 1,
      tx_hash: `0x${'ee'.repeat(32)}`,
      amount_atomic: '1.5',
    });
    expect(bad.status).toBe(400);
  });
});

describe('validation requests and responses', () => {
  it('lets the owner request, only the named validator respond (0..100), and summarises the latest', async () => {
    const validator = await newClient(broker.url);
    const hash = `0x${'12'.repeat(32)}`;
    const req = { validator_address: validator.address, request_uri: 'ipfs://req', request_hash: hash };
    expect((await rater.post(`/api/v1/agents/${agentId}/validations`, req)).status).toBe(403);
    expect((await owner.post(`/api/v1/agents/${agentId}/validations`, req)).status).toBe(201);
    expect((await owner.post(`/api/v1/agents/${agentId}/validations`, req)).status).toBe(409);

    const respond = (c: Client, body: unknown) =>
      c.post(`/api/v1/agents/validations/${hash}/responses`, body);
    expect((await respond(rater, { response: 80 })).status).toBe(403);
    expect((await respond(validator, { response: 101 })).status).toBe(400);
    expect((await respond(validator, { response: 60, tag: 'first' })).status).toBe(201);
    expect((await respond(validator, { response: 10 })).status).toBe(201);
    // Several responses are allowed; the latest counts.
    expect((await respond(validator, { response: 90, tag: 'final' })).status).toBe(201);

    const summary = await rater.get(
      `/api/v1/agents/${agentId}/validations/summary?validator=${validator.address}`,
    );
    expect(summary.body).toEqual({ count: 1, average: 90 });
    const byTag = await rater.get(`/api/v1/agents/${agentId}/validations/summary?tag=first`);
    expect(byTag.body).toEqual({ count: 0, average: null });
    expect(
      (await rater.post(`/api/v1/agents/validations/0x${'99'.repeat(32)}/responses`, { response: 1 })).status,
    ).toBe(404);
  });
});
