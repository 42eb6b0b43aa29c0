import { beforeAll, describe, expect, it } from 'vitest';
import { selectCommittee } from '../app/domain/committee.js';
import type { RunningBroker } from '../app/server.js';
import { newClient, type Client } from './helpers/api.js';
import { fund, newSigner, registeredAgent, settledReceipt, signed, type Signer } from './helpers/ainp.js';
import { createTestStack, type TestStack } from './helpers/stack.js';
import { batchSizes, holdInserts } from './helpers/write-batches.js';

let stack: TestStack;
let broker: RunningBroker;
let owner: Client;
let provider: Signer;
let providerId: string;
let committee: Signer[];

beforeAll(async () => {
  stack = await createTestStack();
  broker = await stack.broker({ RATE_LIMIT_REGISTER: '1000', POU_MIN_STAKE: '1000' });
  owner = await newClient(broker.url);
  ({ signer: provider, id: providerId } = await registeredAgent(broker.url, owner, { name: 'provider' }));
  committee = [];
  // Each member under its own owner: one committee seat per owner, none for the provider's.
  for (let i = 0; i < 5; i++) {
    const memberOwner = await newClient(broker.url);
    committee.push(
      (await registeredAgent(broker.url, memberOwner, { stake: '5000', type: i % 2 ? 'p256' : 'ed25519' }))
        .signer,
    );
  }
  // Registered but without enough stake: never on a committee.
  await registeredAgent(broker.url, owner, { stake: '10' });
});

const byDid = (did: string) => committee.find((c) => c.did === did)!;

describe('settle → attest → finalize over HTTP with real signatures', () => {
  // One flow in steps that pass or fail on their own; each step starts from the state the previous
  // ones left (vitest runs a file's tests in order).
  describe('the whole flow, step by step', () => {
    const client = newSigner();
    const reputationPath = () => `/api/reputation/${encodeURIComponent(provider.did)}`;
    const reputation = async () => (await signed(broker.url, client, 'GET', reputationPath())).body;
    let receipt: any;
    let path: string;
    let afterFinalize: any;

    it('starts the provider at the neutral reputation', async () => {
      const before = await signed(broker.url, client, 'GET', reputationPath());
      expect(before.status).toBe(200);
      expect(before.body).toMatchObject({ q: 0.5, r: 0.5, tasks_finalized: 0 });
    });

    it('settles into a pending receipt whose committee is every staked agent', async () => {
      receipt = await settledReceipt(broker.url, client, provider, {
        price: '1000003',
        latency_ms: 2000,
        sla_ms: 10_000,
      });
      path = `/api/receipts/${receipt.task_id}`;
      expect(receipt).toMatchObject({
        status: 'pending',
        agent_did: provider.did,
        client_did: client.did,
        k: 3,
        m: 5,
      });
      expect(receipt.committee.sort()).toEqual(committee.map((c) => c.did).sort());
      expect(receipt.selection_seed).toMatch(/^[0-9a-f]{64}$/);
    });

    it('pays the price out of the escrow, split so the parts sum to it, and releases the rest', async () => {
      // 700002 + 100000 + 100000 + 100001 = 1000003, from the 2000000 escrowed; 999997 goes back.
      const ledger = await stack.db.query(
        `SELECT id, debit_account AS debit, credit_account AS credit, amount_atomic::text AS a
           FROM ledger_transfers WHERE reference IN ($1, $2) ORDER BY seq`,
        [receipt.task_id, receipt.intent_id],
      );
      const escrow = `escrow:${client.did}`;
      expect(ledger.rows).toEqual([
        {
          id: `escrow:${receipt.intent_id}`,
          debit: `available:${client.did}`,
          credit: escrow,
          a: '2000000',
        },
        {
          id: `settle:${receipt.task_id}:agent`,
          debit: escrow,
          credit: `available:${provider.did}`,
          a: '700002',
        },
        { id: `settle:${receipt.task_id}:broker`, debit: escrow, credit: 'broker', a: '100000' },
        { id: `settle:${receipt.task_id}:validators`, debit: escrow, credit: 'validators', a: '100000' },
        { id: `settle:${receipt.task_id}:pool`, debit: escrow, credit: 'pool', a: '100001' },
        {
          id: `release:${receipt.intent_id}`,
          debit: escrow,
          credit: `available:${client.did}`,
          a: '999997',
        },
      ]);
      const credits = await signed(
        broker.url,
        client,
        'GET',
        `/api/credits/${encodeURIComponent(client.did)}`,
      );
      // Deposit, escrow, four settlement parts out of the escrow, release: seven transfers touch the client.
      expect(credits.body).toMatchObject({ available: '999997', escrow: '0', stake: '0', total: 7 });
    });

    it('returns QUORUM_NOT_MET before any attestation', async () => {
      const notYet = await fetch(`${broker.url}${path}/finalize`, { method: 'POST' });
      expect(notYet.status).toBe(409);
      expect(await notYet.json()).toMatchObject({ error: 'QUORUM_NOT_MET', needed: 3, have: 0 });
    });

    it('takes k committee AUDIT_PASS attestations and the client ACCEPTED', async () => {
      for (const member of receipt.committee.slice(0, 3)) {
        const r = await signed(broker.url, byDid(member), 'POST', `${path}/attestations`, {
          type: 'AUDIT_PASS',
          score: 0.9,
          confidence: 0.8,
        });
        expect(r.status).toBe(201);
      }
      const accepted = await signed(broker.url, client, 'POST', `${path}/attestations`, {
        type: 'ACCEPTED',
        score: 1,
        confidence: 1,
      });
      expect(accepted.status).toBe(201);
    });

    it('finalizes and moves every reputation dimension by the EWMA', async () => {
      const fin = await fetch(`${broker.url}${path}/finalize`, { method: 'POST' });
      expect(fin.status).toBe(200);
      expect(await fin.json()).toEqual({ ok: true, status: 'finalized' });
      afterFinalize = await reputation();
      expect(afterFinalize.tasks_finalized).toBe(1);
      expect(afterFinalize.r).toBeCloseTo(0.6, 10); // 0.8·0.5 + 0.2·1
      expect(afterFinalize.q).toBeCloseTo(0.8 * 0.5 + 0.2 * ((0.9 * 3 + 1) / 4), 10);
      expect(afterFinalize.t).toBeCloseTo(0.8 * 0.5 + 0.2 * 0.8, 10);
      expect(afterFinalize.v).toBeCloseTo(0.8 * 0.5 + 0.2 * 0.8, 10);
      const { r, v, q, t } = afterFinalize;
      expect(afterFinalize.trust_score).toBeCloseTo(0.35 * r + 0.35 * v + 0.2 * q + 0.1 * t, 10);
    });

    it('returns the same result on a repeated finalize and changes nothing', async () => {
      const again = await fetch(`${broker.url}${path}/finalize`, { method: 'POST' });
      expect(await again.json()).toEqual({ ok: true, status: 'finalized' });
      expect(await reputation()).toEqual(afterFinalize);
    });

    it("shows the task and trust score in the provider's registry stats at once", async () => {
      const stats = await owner.get(`/api/v1/agents/${providerId}/stats`);
      expect(stats.body).toMatchObject({ tasks: { settled: 1, finalized: 1, failed: 0 }, success_rate: 1 });
      expect(stats.body.trust_score).toBeCloseTo(afterFinalize.trust_score, 4);
    });

    it('serves the finalized receipt with its attestation counts', async () => {
      const view = await signed(broker.url, client, 'GET', path);
      expect(view.body).toMatchObject({
        status: 'finalized',
        attestation_counts: { AUDIT_PASS: 3, ACCEPTED: 1 },
        attestations_total: 4,
      });
      expect(view.body.attestations).toHaveLength(4);
    });

    it('refuses an attestation after the receipt left pending', async () => {
      const late = await signed(broker.url, byDid(receipt.committee[4]), 'POST', `${path}/attestations`, {
        type: 'AUDIT_PASS',
        score: 1,
        confidence: 1,
      });
      expect(late.status).toBe(409);
    });
  });

  it('recomputes the stored committee from the stored seed and weights', async () => {
    const receipt = await settledReceipt(broker.url, newSigner(), provider);
    const res = await fetch(`${broker.url}/api/receipts/${receipt.task_id}/committee`);
    const c = (await res.json()) as any;
    // Nobody's trust changed since settlement: the eligible set and weights are the same.
    const eligible = await stack.db.query(
      `SELECT a.did, coalesce(p.trust_score, 0.5) AS trust FROM agents a JOIN ledger_accounts s ON s.account = 'stake:' || a.did
        LEFT JOIN reputations p ON p.did = a.did WHERE s.balance_atomic >= 1000 AND a.did <> $1`,
      [provider.did],
    );
    const { weightFromTrust } = await import('../app/domain/committee.js');
    const candidates = eligible.rows.map((r) => ({ did: r.did, weight: weightFromTrust(r.trust) }));
    expect(selectCommittee(candidates, 5, c.selection_seed).map((x) => x.did)).toEqual(c.committee);
    expect(c.weights).toEqual(c.committee.map((d: string) => candidates.find((x) => x.did === d)!.weight));
  });
});

describe('attestation rules', () => {
  it('refuses AUDIT_PASS from a non-member and ACCEPTED from anyone but the client, and duplicates', async () => {
    const client = newSigner();
    const receipt = await settledReceipt(broker.url, client, provider);
    const path = `/api/receipts/${receipt.task_id}/attestations`;
    const outsider = newSigner();
    const r1 = await signed(broker.url, outsider, 'POST', path, {
      type: 'AUDIT_PASS',
      score: 1,
      confidence: 1,
    });
    expect(r1.status).toBe(403);
    expect(r1.body.message).toBe('UNAUTHORIZED_ATTESTATION');
    const member = byDid(receipt.committee[0]);
    const r2 = await signed(broker.url, member, 'POST', path, { type: 'ACCEPTED', score: 1, confidence: 1 });
    expect(r2.status).toBe(403);
    expect(r2.body.message).toBe('UNAUTHORIZED_ATTESTATION');
    expect(
      (await signed(broker.url, member, 'POST', path, { type: 'AUDIT_FAIL', score: 0.9, confidence: 1 }))
        .status,
    ).toBe(201);
    const dup = await signed(broker.url, member, 'POST', path, {
      type: 'AUDIT_FAIL',
      score: 0.1,
      confidence: 1,
    });
    expect(dup.status).toBe(409);
    expect(dup.body.error).toBe('DUPLICATE_ATTESTATION');
    const bad = await signed(broker.url, member, 'POST', path, {
      type: 'AUDIT_PASS',
      score: 2,
      confidence: 1,
    });
    expect(bad.status).toBe(400);
  });

  it('records attestations that arrive together in one batch, each with its own outcome and event', async () => {
    const client = newSigner();
    const open = await settledReceipt(broker.url, client, provider);
    const closed = await settledReceipt(broker.url, newSigner(), provider);
    const closedPath = `/api/receipts/${closed.task_id}`;
    for (const m of closed.committee.slice(0, 3))
      await signed(broker.url, byDid(m), 'POST', `${closedPath}/attestations`, {
        type: 'AUDIT_FAIL',
        score: 1,
        confidence: 1,
      });
    expect((await fetch(`${broker.url}${closedPath}/finalize`, { method: 'POST' })).status).toBe(200);
    const before = await batchSizes(broker.url, 'attest');

    const path = `/api/receipts/${open.task_id}/attestations`;
    const audit = (score: number) => ({ type: 'AUDIT_PASS', score, confidence: 0.5 });
    // Inserts into attestations wait: two lone attestations on a third receipt fill the two batches
    // in flight (DB_WRITE_BATCHES_IN_FLIGHT), every later one queues, then all go.
    const other = await settledReceipt(broker.url, newSigner(), provider);
    const hold = await holdInserts(stack.db, 'attestations', broker.url, 'attest');
    const fillers = other.committee
      .slice(0, 2)
      .map((m: string) =>
        signed(broker.url, byDid(m), 'POST', `/api/receipts/${other.task_id}/attestations`, audit(1)),
      );
    await hold.waitBlocked(2);
    const sent = [
      ...open.committee.map((m: string, i: number) =>
        signed(broker.url, byDid(m), 'POST', path, audit(i / 10)),
      ),
      signed(broker.url, client, 'POST', path, {
        type: 'ACCEPTED',
        score: 1,
        confidence: 1,
        evidence_ref: 'ipfs://e',
      }),
      signed(broker.url, byDid(open.committee[0]), 'POST', path, audit(0.99)), // the same type again: 409
      signed(broker.url, provider, 'POST', path, audit(0.5)), // not on the committee: 403
      signed(broker.url, byDid(closed.committee[0]), 'POST', `${closedPath}/attestations`, audit(0.5)), // 409
      signed(broker.url, client, 'POST', '/api/receipts/6f9619ff-8b86-4011-b42d-00c04fc964ff/attestations', {
        type: 'ACCEPTED',
        score: 1,
        confidence: 1,
      }), // 404
    ];
    await hold.waitQueued(sent.length);
    await hold.release();
    const results = await Promise.all(sent);
    expect((await Promise.all(fillers)).map((r) => r.status)).toEqual([201, 201]);
    expect(await batchSizes(broker.url, 'attest')).toEqual({
      writes: before.writes + 2 + sent.length,
      batches: before.batches + 3,
    });

    const n = open.committee.length;
    // committee[0] sent twice in one batch: the first to arrive is recorded, the other is the duplicate.
    const twice = [results[0]!, results[n + 1]!];
    expect(twice.map((r) => r.status).sort()).toEqual([201, 409]);
    expect(twice.find((r) => r.status === 409)!.body.error).toBe('DUPLICATE_ATTESTATION');
    expect(results.slice(1, n + 1).map((r) => r.status)).toEqual(Array(n).fill(201));
    expect(results[n + 2]!.status).toBe(403);
    expect(results[n + 2]!.body.error).toBe('FORBIDDEN');
    expect(results[n + 3]!.status).toBe(409);
    expect(results[n + 3]!.body.error).toBe('INVALID_STATE');
    expect(results[n + 4]!.status).toBe(404);
    const recorded = results.filter((r) => r.status === 201).map((r) => r.body);
    expect(recorded).toHaveLength(n + 1);
    expect(recorded.find((a) => a.type === 'ACCEPTED')).toMatchObject({
      signer_did: client.did,
      evidence_ref: 'ipfs://e',
    });
    // One event per recorded attestation, carrying it as answered; what the receipt lists is the same.
    const { rows } = await stack.db.query(
      `SELECT payload->'attestation' AS a, recipients FROM events
        WHERE type = 'attestation.submitted' AND payload->'attestation'->>'task_id' = $1`,
      [open.task_id],
    );
    const byId = (xs: any[]) => [...xs].sort((x, y) => (x.id < y.id ? -1 : 1));
    expect(byId(rows.map((r) => r.a))).toEqual(byId(recorded));
    expect(rows.every((r) => r.recipients.join() === [client.did, provider.did].join())).toBe(true);
    const listed = await signed(broker.url, client, 'GET', `/api/receipts/${open.task_id}/attestations`);
    expect(byId(listed.body.attestations)).toEqual(byId(recorded.map(({ task_id: _, ...a }) => a)));
  });

  it('fails a receipt once AUDIT_FAIL makes k unreachable', async () => {
    const receipt = await settledReceipt(broker.url, newSigner(), provider);
    const path = `/api/receipts/${receipt.task_id}`;
    for (const m of receipt.committee.slice(0, 3)) {
      await signed(broker.url, byDid(m), 'POST', `${path}/attestations`, {
        type: 'AUDIT_FAIL',
        score: 1,
        confidence: 1,
      });
    }
    expect(await (await fetch(`${broker.url}${path}/finalize`, { method: 'POST' })).json()).toEqual({
      ok: true,
      status: 'failed',
    });
  });

  it('disputes a receipt the client REJECTED while audits passed', async () => {
    const client = newSigner();
    const receipt = await settledReceipt(broker.url, client, provider);
    const path = `/api/receipts/${receipt.task_id}`;
    await signed(broker.url, byDid(receipt.committee[0]), 'POST', `${path}/attestations`, {
      type: 'AUDIT_PASS',
      score: 1,
      confidence: 1,
    });
    await signed(broker.url, client, 'POST', `${path}/attestations`, {
      type: 'REJECTED',
      score: 0.9,
      confidence: 1,
    });
    expect(await (await fetch(`${broker.url}${path}/finalize`, { method: 'POST' })).json()).toEqual({
      ok: true,
      status: 'disputed',
    });
  });
});

describe('negotiation state machine', () => {
  it('lets only the other party accept, refuses illegal transitions with INVALID_STATE, and only the client settles', async () => {
    const client = newSigner();
    await fund(broker.url, client.did, '10000');
    const intent = await signed(broker.url, client, 'POST', '/api/intents', {
      intent_type: 'x',
      description: 'y',
      budget_atomic: '10000',
    });
    expect(intent.body).toMatchObject({ status: 'open', client_did: client.did });
    const unregistered = await signed(broker.url, newSigner(), 'POST', '/api/negotiations', {
      intent_id: intent.body.id,
      price_atomic: '5000',
      eta_ms: 10,
    });
    expect(unregistered.status).toBe(403);
    const neg = (
      await signed(broker.url, provider, 'POST', '/api/negotiations', {
        intent_id: intent.body.id,
        price_atomic: '5000',
        eta_ms: 10,
      })
    ).body;
    expect(neg).toMatchObject({ state: 'proposed', agent_did: provider.did, client_did: client.did });
    const base = `/api/negotiations/${neg.id}`;
    expect((await signed(broker.url, provider, 'POST', `${base}/accept`, {})).status).toBe(403);
    expect((await signed(broker.url, newSigner(), 'POST', `${base}/reject`, {})).status).toBe(403);
    const counter = await signed(broker.url, client, 'POST', `${base}/propose`, {
      price_atomic: '4000',
      eta_ms: 20,
    });
    expect(counter.body).toMatchObject({ state: 'proposed', last_offer_by: 'client', price_atomic: '4000' });
    expect(counter.body.offers).toHaveLength(2);
    expect((await signed(broker.url, client, 'POST', `${base}/settle`, {})).body.error).toBe('INVALID_STATE');
    expect((await signed(broker.url, provider, 'POST', `${base}/accept`, {})).body.state).toBe('accepted');
    expect((await signed(broker.url, provider, 'POST', `${base}/settle`, {})).status).toBe(403);
    const reject = await signed(broker.url, client, 'POST', `${base}/reject`, {});
    expect(reject.status).toBe(409);
    expect(reject.body.error).toBe('INVALID_STATE');
    expect((await signed(broker.url, client, 'POST', `${base}/settle`, {})).status).toBe(201);
    expect((await signed(broker.url, client, 'POST', `${base}/settle`, {})).body.error).toBe('INVALID_STATE');
  });

  it('expires a negotiation after its TTL', async () => {
    const client = newSigner();
    await fund(broker.url, client.did, '10000');
    const intent = await signed(broker.url, client, 'POST', '/api/intents', {
      intent_type: 'x',
      description: 'y',
      budget_atomic: '10000',
    });
    const neg = (
      await signed(broker.url, provider, 'POST', '/api/negotiations', {
        intent_id: intent.body.id,
        price_atomic: '5000',
        eta_ms: 10,
      })
    ).body;
    await stack.db.query(`UPDATE negotiations SET expires_at = now() - interval '1 second' WHERE id = $1`, [
      neg.id,
    ]);
    const res = await signed(broker.url, client, 'POST', `/api/negotiations/${neg.id}/accept`, {});
    expect(res.status).toBe(409);
    expect(res.body.message).toContain('expired');
    expect(
      (await stack.db.query('SELECT state FROM negotiations WHERE id = $1', [neg.id])).rows[0].state,
    ).toBe('expired');
  });
});
