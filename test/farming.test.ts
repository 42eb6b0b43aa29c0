import { beforeAll, describe, expect, it } from 'vitest';
import { aggregate } from '../app/jobs/aggregator.js';
import { distributeCredits } from '../app/jobs/credits.js';
import type { RunningBroker } from '../app/server.js';
import { agentBody, newClient, type Client } from './helpers/api.js';
import {
  auditedReceipt,
  finalizedReceipt,
  fund,
  newSigner,
  registeredAgent,
  registerWithDid,
  settledReceipt,
  signed,
  type Signer,
} from './helpers/ainp.js';
import { createTestStack, type TestStack } from './helpers/stack.js';

/**
 * SPEC section 10 (v3), "Farming costs money": the audit's farm (one API key, a fresh client DID,
 * budgets of "0", the client's own ACCEPTED finalizing receipts that had no committee) took a
 * provider's trust from 0.5 to 0.685 in five rounds and the next reward window's whole pool.
 */
let stack: TestStack;
beforeAll(async () => {
  stack = await createTestStack();
});

const NEUTRAL = {
  q: 0.5,
  t: 0.5,
  r: 0.5,
  s: 0.5,
  v: 0.5,
  i: 0.5,
  e: 0.5,
  trust_score: 0.5,
  tasks_finalized: 0,
};
const metrics = { compute_ms: 1000, memory_mb: 5, hops: 1, checks: 1, samples: 10 };

async function reputation(broker: RunningBroker, did: string) {
  const res = await signed(broker.url, newSigner(), 'GET', `/api/reputation/${encodeURIComponent(did)}`);
  return res.body as Record<string, number>;
}

async function balance(broker: RunningBroker, did: string) {
  const res = await signed(broker.url, newSigner(), 'GET', `/api/credits/${encodeURIComponent(did)}`);
  return res.body as { available: string; escrow: string; stake: string };
}

const proofFor = (broker: RunningBroker, provider: Signer, taskId: string) =>
  signed(broker.url, provider, 'POST', '/api/usefulness/proofs', {
    trace_id: `farm-${taskId}`,
    task_id: taskId,
    metrics,
  });

describe('farming (SPEC section 10, v3)', () => {
  it('refuses a budget or price below MIN_PRICE_ATOMIC (400 naming the minimum)', async () => {
    const broker = await stack.broker({ MIN_PRICE_ATOMIC: '1000', RATE_LIMIT_REGISTER: '100' });
    const client = newSigner();
    await fund(broker.url, client.did, '5000');
    for (const budget of ['0', '999']) {
      const res = await signed(broker.url, client, 'POST', '/api/intents', {
        intent_type: 'x',
        description: 'farm',
        budget_atomic: budget,
      });
      expect(res.status).toBe(400);
      expect(res.body.message).toContain('below the minimum price 1000');
      expect(res.body.details).toEqual([
        { field: 'budget_atomic', message: 'must be at least 1000 (MIN_PRICE_ATOMIC)' },
      ]);
    }
    const intent = await signed(broker.url, client, 'POST', '/api/intents', {
      intent_type: 'x',
      description: 'farm',
      budget_atomic: '2000',
    });
    expect(intent.status).toBe(201);
    const provider = (await registeredAgent(broker.url, await newClient(broker.url))).signer;
    const low = await signed(broker.url, provider, 'POST', '/api/negotiations', {
      intent_id: intent.body.id,
      price_atomic: '10',
      eta_ms: 1,
    });
    expect(low.status).toBe(400);
    expect(low.body.details).toEqual([
      { field: 'price_atomic', message: 'must be at least 1000 (MIN_PRICE_ATOMIC)' },
    ]);
    const ok = await signed(broker.url, provider, 'POST', '/api/negotiations', {
      intent_id: intent.body.id,
      price_atomic: '1500',
      eta_ms: 1,
    });
    expect(ok.status).toBe(201);
    const counter = await signed(broker.url, client, 'POST', `/api/negotiations/${ok.body.id}/propose`, {
      price_atomic: '999',
      eta_ms: 1,
    });
    expect(counter.status).toBe(400);
  });

  it('makes a farm without a committee spend more than it earns: no reputation, no usefulness, no reward', async () => {
    const farm = await createTestStack();
    const broker = await farm.broker({ MIN_PRICE_ATOMIC: '1000', REWARD_POOL_ATOMIC: '1000000' });
    const owner = await newClient(broker.url);
    const provider = (await registeredAgent(broker.url, owner)).signer;
    const rounds = 5;
    const receipts = [];
    for (let i = 0; i < rounds; i++) receipts.push(await finalizedReceipt(broker.url, provider, '1000'));
    for (const r of receipts) {
      const full = await signed(broker.url, provider, 'GET', `/api/receipts/${r.task_id}`);
      expect(full.body).toMatchObject({ status: 'finalized', committee_shortfall: true, self_dealt: false });
    }
    // Finalized by the client's ACCEPTED alone: reputation stays where a new agent starts.
    expect(await reputation(broker, provider.did)).toMatchObject(NEUTRAL);
    const proof = await proofFor(broker, provider, receipts[0]!.task_id);
    expect(proof.status).toBe(409);
    expect(proof.body.error).toBe('UNAUDITED_RECEIPT');

    await aggregate(broker.ctx);
    await distributeCredits(broker.ctx, new AbortController().signal);
    const rewards = await farm.db.query(
      `SELECT count(*)::int AS n FROM ledger_transfers WHERE kind = 'reward' AND credit_account = $1`,
      [`available:${provider.did}`],
    );
    expect(rewards.rows[0].n).toBe(0);

    // What the farm put in (each client's budget) against what came back to its provider.
    const earned = BigInt((await balance(broker, provider.did)).available);
    const spent = BigInt(rounds) * 1000n;
    expect(earned).toBe(BigInt(rounds) * 700n);
    expect(earned).toBeLessThan(spent);
  });

  it('moves no reputation and backs no proof when client and provider share an owner, even with a committee', async () => {
    const broker = await stack.broker({
      POU_MIN_STAKE: '100',
      POU_M: '1',
      POU_K: '1',
      RATE_LIMIT_REGISTER: '100',
    });
    const auditor = (await registeredAgent(broker.url, await newClient(broker.url), { stake: '100' })).signer;
    const owner: Client = await newClient(broker.url);
    const provider = (await registeredAgent(broker.url, owner)).signer;
    // The client is an agent of the same owner address.
    const client = newSigner();
    expect((await registerWithDid(broker.url, owner, client, agentBody({ name: 'client' }))).status).toBe(
      201,
    );
    const receipt = await settledReceipt(broker.url, client, provider, { price: '1000', budget: '1000' });
    expect(receipt).toMatchObject({ self_dealt: true, committee_shortfall: false, committee: [auditor.did] });
    for (const [signer, type] of [
      [auditor, 'AUDIT_PASS'],
      [client, 'ACCEPTED'],
    ] as const)
      expect(
        (
          await signed(broker.url, signer, 'POST', `/api/receipts/${receipt.task_id}/attestations`, {
            type,
            score: 1,
            confidence: 1,
          })
        ).status,
      ).toBe(201);
    const fin = await fetch(`${broker.url}/api/receipts/${receipt.task_id}/finalize`, { method: 'POST' });
    expect(await fin.json()).toEqual({ ok: true, status: 'finalized' });
    expect(await reputation(broker, provider.did)).toMatchObject(NEUTRAL);
    expect((await proofFor(broker, provider, receipt.task_id)).body.error).toBe('UNAUDITED_RECEIPT');

    // The same work for an independent client moves it, and backs a proof.
    const fair = await auditedReceipt(broker.url, provider, [auditor]);
    const moved = await reputation(broker, provider.did);
    expect(moved.tasks_finalized).toBe(1);
    expect(moved.trust_score).toBeGreaterThan(0.5);
    expect((await proofFor(broker, provider, fair.task_id)).status).toBe(201);
  });
});
