import { beforeAll, describe, expect, it } from 'vitest';
import { aggregate } from '../app/jobs/aggregator.js';
import { distributeCredits } from '../app/jobs/credits.js';
import { distributeRewards, scoreWeight } from '../app/domain/rewards.js';
import { proofScore } from '../app/domain/usefulness.js';
import type { RunningBroker } from '../app/server.js';
import { newClient, type Client } from './helpers/api.js';
import { auditedReceipt, registeredAgent, signed, type Signer } from './helpers/ainp.js';
import { runMain } from './helpers/process.js';
import { createTestStack, type TestStack } from './helpers/stack.js';

let stack: TestStack;
let broker: RunningBroker;
let owner: Client;
/** The one staked agent every committee is drawn from (m = k = 1), of an owner of its own. */
let auditor: Signer;
beforeAll(async () => {
  stack = await createTestStack();
  broker = await stack.broker({
    RATE_LIMIT_REGISTER: '1000',
    MAX_PROOFS_PER_HOUR: '8',
    PROOF_BURST_MAX: '2',
    REWARD_POOL_ATOMIC: '1000',
    POU_MIN_STAKE: '100',
    POU_M: '1',
    POU_K: '1',
  });
  owner = await newClient(broker.url);
  auditor = (await registeredAgent(broker.url, await newClient(broker.url), { stake: '100' })).signer;
});

const metrics = { compute_ms: 1000, memory_mb: 5, hops: 1, checks: 1, samples: 10 }; // 10 + 5 + 10 + 5 + 1 = 31
const perfect = { compute_ms: 10_000, memory_mb: 100, hops: 0, checks: 0, samples: 0 }; // capped at 100
let n = 0;
// Each proof names its own finalized, audited receipt of the prover (SPEC section 10).
const prove = async (s: Signer, m = metrics, trace = `trace-${++n}-${Math.random()}`) =>
  signed(broker.url, s, 'POST', '/api/usefulness/proofs', {
    trace_id: trace,
    task_id: (await auditedReceipt(broker.url, s, [auditor])).task_id,
    metrics: m,
  });

describe('usefulness proofs', () => {
  it('scores a proof by the SPEC formula', async () => {
    expect(proofScore(metrics)).toBe(31);
    expect(proofScore(perfect)).toBe(100);
    const agent = (await registeredAgent(broker.url, owner)).signer;
    const res = await prove(agent);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ agent_did: agent.did, score: 31, flagged: false });
  });

  it('refuses a duplicate trace_id (409), an unregistered signer (403) and unknown metric fields (400)', async () => {
    const agent = (await registeredAgent(broker.url, owner)).signer;
    expect((await prove(agent, metrics, 'same-trace')).status).toBe(201);
    const dup = await prove(agent, metrics, 'same-trace');
    expect(dup.status).toBe(409);
    const { newSigner } = await import('./helpers/ainp.js');
    const unregistered = await signed(broker.url, newSigner(), 'POST', '/api/usefulness/proofs', {
      trace_id: 'unregistered',
      task_id: '00000000-0000-4000-8000-000000000000',
      metrics,
    });
    expect(unregistered.status).toBe(403);
    expect((await prove(agent, { ...metrics, gpu: 1 } as any)).status).toBe(400);
  });

  it('caps proofs per agent per hour (429)', async () => {
    const agent = (await registeredAgent(broker.url, owner)).signer;
    const statuses = [];
    for (let i = 0; i < 10; i++) statuses.push((await prove(agent)).status);
    expect(statuses).toEqual([...Array(8).fill(201), 429, 429]);
  });

  it('flags a burst of near-perfect scores and leaves it out of the average', async () => {
    const agent = (await registeredAgent(broker.url, owner)).signer;
    const results = [];
    for (let i = 0; i < 4; i++) results.push((await prove(agent, perfect)).body.flagged);
    expect(results).toEqual([false, false, true, true]);
    await prove(agent, metrics);
    await aggregate(broker.ctx);
    const u = await signed(broker.url, agent, 'GET', `/api/usefulness/${encodeURIComponent(agent.did)}`);
    expect(u.body).toMatchObject({ proofs: 3, flagged: 2 });
    expect(u.body.usefulness).toBeCloseTo((100 + 100 + 31) / 3, 6);
  });
});

describe('credit distribution', () => {
  it('splits with floors and carries the remainder (pure rule)', () => {
    const { shares, carried } = distributeRewards(1000n, [
      { did: 'a', weight: scoreWeight(10) },
      { did: 'b', weight: scoreWeight(20) },
    ]);
    expect(shares).toEqual([
      { did: 'a', amount: 333n },
      { did: 'b', amount: 666n },
    ]);
    expect(carried).toBe(1n);
    expect(distributeRewards(1000n, [])).toEqual({ shares: [], carried: 1000n });
  });

  it('pays each window once: payouts plus carried equal the pool, reruns and concurrent runs pay nothing more', async () => {
    const other = await createTestStack();
    const b = await other.broker({ REWARD_POOL_ATOMIC: '1000', MIN_USEFULNESS_FOR_REWARDS: '10' });
    await other.db.query(
      `INSERT INTO agent_usefulness (did, score, proofs) VALUES ('did:key:zA', 10, 1), ('did:key:zB', 20, 1), ('did:key:zLow', 9.9, 1)`,
    );
    // The last paid window was three hours ago: this run catches up two windows (carry flows on).
    const now = new Date();
    const hour = 3_600_000;
    const threeAgo = new Date(Math.floor(now.getTime() / hour) * hour - 3 * hour);
    await other.db.query(
      `INSERT INTO credit_windows (window_start, pool_atomic, carried_in_atomic, distributed_atomic, carried_out_atomic, recipients)
       VALUES ($1, 1000, 0, 995, 5, 2)`,
      [threeAgo],
    );
    // The 5 carried out of that window stayed in the pool account.
    await other.db.query(
      `INSERT INTO ledger_transfers (id, debit_account, credit_account, amount_atomic, kind) VALUES ('carry', 'treasury', 'pool', 5, 'legacy_carry')`,
    );
    const env = other.env({ REWARD_POOL_ATOMIC: '1000' });
    const [r1, r2] = [runMain(['job', 'credits'], env), runMain(['job', 'credits'], env)];
    expect([await r1.exited, await r2.exited]).toEqual([0, 0]);
    expect((await distributeCredits(b.ctx, new AbortController().signal)).windows_paid).toBe(0);

    const windows = await other.db.query(
      `SELECT pool_atomic::text p, carried_in_atomic::text ci, distributed_atomic::text d, carried_out_atomic::text co, recipients
         FROM credit_windows WHERE window_start > $1 ORDER BY window_start`,
      [threeAgo],
    );
    // Window 1: pool 1000 + 5 carried = 1005 → 335 + 670 = 1005, nothing carried. Window 2: 1000 → 333 + 666, 1 carried.
    expect(windows.rows).toEqual([
      { p: '1000', ci: '5', d: '1005', co: '0', recipients: 2 },
      { p: '1000', ci: '0', d: '999', co: '1', recipients: 2 },
    ]);
    const ledger = await other.db.query(
      `SELECT credit_account AS account, sum(amount_atomic)::text AS total, count(*)::int AS n
         FROM ledger_transfers WHERE kind = 'reward' GROUP BY 1 ORDER BY 1`,
    );
    expect(ledger.rows).toEqual([
      { account: 'available:did:key:zA', total: '668', n: 2 },
      { account: 'available:did:key:zB', total: '1336', n: 2 },
    ]);
    // Two emissions of 1000 from treasury; the pool keeps the 5 carried in before, minus what it paid.
    const emitted = await other.db.query(
      `SELECT count(*)::int AS n, sum(amount_atomic)::text AS total FROM ledger_transfers WHERE kind = 'emission' AND debit_account = 'treasury'`,
    );
    expect(emitted.rows[0]).toEqual({ n: 2, total: '2000' });
    const res = await fetch(`${b.url}/api/credits/${encodeURIComponent('did:key:zB')}`, {
      headers: { 'X-API-Key': (await newClient(b.url)).key },
    });
    expect(await res.json()).toMatchObject({ available: '1336', total: 2 });
  });

  it('leaves nothing half-paid when a write fails mid-window, and the next run pays it', async () => {
    const other = await createTestStack();
    const b = await other.broker({ REWARD_POOL_ATOMIC: '1000' });
    await other.db.query(
      `INSERT INTO agent_usefulness (did, score, proofs) VALUES ('did:key:zA', 50, 1), ('did:key:zCrash', 50, 1)`,
    );
    // A failure between the window claim and the last ledger write, like a crash there.
    await other.db.query(`
      CREATE FUNCTION fail_reward() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql;
      CREATE TRIGGER fail_reward BEFORE INSERT ON ledger_transfers FOR EACH ROW WHEN (NEW.credit_account = 'available:did:key:zCrash') EXECUTE FUNCTION fail_reward();`);
    await expect(distributeCredits(b.ctx, new AbortController().signal)).rejects.toThrow(/disk full/);
    expect((await other.db.query('SELECT count(*)::int AS n FROM credit_windows')).rows[0].n).toBe(0);
    expect(
      (
        await other.db.query(
          `SELECT count(*)::int AS n FROM ledger_transfers WHERE kind IN ('reward', 'emission')`,
        )
      ).rows[0].n,
    ).toBe(0);
    await other.db.query('DROP TRIGGER fail_reward ON ledger_transfers');
    expect((await distributeCredits(b.ctx, new AbortController().signal)).windows_paid).toBe(1);
    expect(
      (
        await other.db.query(
          `SELECT sum(amount_atomic)::text AS s FROM ledger_transfers WHERE kind = 'reward'`,
        )
      ).rows[0].s,
    ).toBe('1000');
  });
});
