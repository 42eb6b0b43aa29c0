import { beforeAll, describe, expect, it } from 'vitest';
import { finalizePending } from '../app/jobs/finalizer.js';
import type { RunningBroker } from '../app/server.js';
import { newClient } from './helpers/api.js';
import { newSigner, registeredAgent, settledReceipt, signed } from './helpers/ainp.js';
import { runMain } from './helpers/process.js';
import { seedReadyReceipts } from './helpers/seed.js';
import { createTestStack, type TestStack } from './helpers/stack.js';

let stack: TestStack;
let broker: RunningBroker;
beforeAll(async () => {
  stack = await createTestStack();
  broker = await stack.broker({ RATE_LIMIT_REGISTER: '1000', POU_MIN_STAKE: '1000' });
});

const providers = Array.from({ length: 10 }, (_, i) => `did:key:zProvider${i}`);
const committee = ['did:key:zMemberA', 'did:key:zMemberB', 'did:key:zMemberC'];

/** Per provider: receipts finalized vs the reputation's count — equal when each was applied once. */
async function consistency() {
  const { rows } = await stack.db.query(
    `SELECT p.did, p.tasks_finalized, p.r, (SELECT count(*)::int FROM receipts r WHERE r.agent_did = p.did AND r.status = 'finalized') AS finalized
       FROM reputations p WHERE p.did = ANY($1::text[]) ORDER BY p.did`,
    [providers],
  );
  return rows;
}

describe('finalizer job', () => {
  it('two finalizer processes started together finalize 1,000 receipts, each exactly once', async () => {
    await seedReadyReceipts(stack.db, { n: 1000, providers, committee });
    const env = stack.env({ POU_FINALIZER_BATCH: '50', LOG_LEVEL: 'info' });
    const a = runMain(['job', 'finalizer'], env);
    const b = runMain(['job', 'finalizer'], env);
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
    const pending = await stack.db.query(`SELECT count(*)::int AS n FROM receipts WHERE status = 'pending'`);
    expect(pending.rows[0].n).toBe(0);
    const rows = await consistency();
    expect(rows.reduce((s, r) => s + r.tasks_finalized, 0)).toBe(1000);
    for (const r of rows) {
      expect(r.tasks_finalized).toBe(r.finalized);
      // Reliability after n identical EWMA updates from 0.5 towards 1: 1 − 0.5·0.8ⁿ.
      expect(r.r).toBeCloseTo(1 - 0.5 * 0.8 ** r.finalized, 10);
    }
    // Both runs were recorded, and between them they finalized every receipt once.
    const runs = await stack.db.query(
      `SELECT counts FROM job_runs WHERE job = 'finalizer' AND outcome = 'success'`,
    );
    expect(runs.rows).toHaveLength(2);
    expect(runs.rows.reduce((s, r) => s + r.counts.finalized, 0)).toBe(1000);
  });

  it('a finalizer killed mid-run leaves no half-finalized receipt and the next run completes the work', async () => {
    await seedReadyReceipts(stack.db, { n: 4000, providers, committee });
    const run = runMain(['job', 'finalizer'], stack.env({ POU_FINALIZER_BATCH: '20' }));
    for (;;) {
      const { rows } = await stack.db.query(
        `SELECT count(*)::int AS n FROM receipts WHERE status = 'pending'`,
      );
      if (rows[0].n < 4000 || run.child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    run.child.kill('SIGKILL');
    await run.exited;
    // PostgreSQL ends the dead client's session (rolling its open batch back) once it sees the
    // socket close; wait for that, as a CronJob's next run would come a schedule later.
    for (let i = 0; i < 100; i++) {
      const { rows } = await stack.db.query(
        `SELECT count(*)::int AS n FROM pg_locks WHERE relation = 'receipts'::regclass AND pid <> pg_backend_pid()`,
      );
      if (rows[0].n === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const midway = await stack.db.query(`SELECT count(*)::int AS n FROM receipts WHERE status = 'pending'`);
    expect(midway.rows[0].n).toBeGreaterThan(0);
    for (const r of await consistency()) expect(r.tasks_finalized).toBe(r.finalized);

    const counts = await finalizePending(broker.ctx, new AbortController().signal);
    expect(counts.finalized).toBe(midway.rows[0].n);
    for (const r of await consistency()) expect(r.tasks_finalized).toBe(r.finalized);
    const left = await stack.db.query(`SELECT count(*)::int AS n FROM receipts WHERE status = 'pending'`);
    expect(left.rows[0].n).toBe(0);
  });

  it('walks receipts that are not ready yet once per run, and ends', async () => {
    // Not ready: settled, no attestation. Each batch's last row must not be claimed again (the
    // cursor once lost PostgreSQL's microseconds and claimed it until the time budget ran out).
    await seedReadyReceipts(stack.db, { n: 95, providers, committee, ready: false });
    const { rows } = await stack.db.query(`SELECT count(*)::int AS n FROM receipts WHERE status = 'pending'`);
    const env = { ...broker.ctx.env, POU_FINALIZER_BATCH: 10, POU_FINALIZER_BUDGET_MS: 20_000 };
    const started = Date.now();
    const counts = await finalizePending({ ...broker.ctx, env }, new AbortController().signal);
    expect(counts).toMatchObject({ claimed: rows[0].n, pending: rows[0].n, finalized: 0 });
    expect(counts.batches).toBe(Math.ceil(rows[0].n / 10));
    expect(Date.now() - started).toBeLessThan(env.POU_FINALIZER_BUDGET_MS);
  });

  it('expires receipts pending past the TTL; reliability falls for audited work only', async () => {
    // A broker of its own, with one staked auditor: its receipts get a committee.
    const other = await createTestStack();
    const b = await other.broker({ RATE_LIMIT_REGISTER: '1000', POU_MIN_STAKE: '100' });
    const owner = await newClient(b.url);
    const provider = (await registeredAgent(b.url, owner)).signer;
    const unaudited = await settledReceipt(b.url, newSigner(), provider);
    expect(unaudited.committee_shortfall).toBe(true);
    await registeredAgent(b.url, await newClient(b.url), { stake: '100' });
    const audited = await settledReceipt(b.url, newSigner(), provider);
    expect(audited.committee).toHaveLength(1);
    const ids = [unaudited.task_id, audited.task_id];
    await other.db.query(
      `UPDATE receipts SET created_at = now() - interval '25 hours' WHERE task_id = ANY($1)`,
      [ids],
    );
    const counts = await finalizePending(b.ctx, new AbortController().signal);
    expect(counts.expired).toBe(2);
    const { rows } = await other.db.query('SELECT status FROM receipts WHERE task_id = ANY($1)', [ids]);
    expect(rows.map((r) => r.status)).toEqual(['expired', 'expired']);
    const rep = await signed(b.url, provider, 'GET', `/api/reputation/${encodeURIComponent(provider.did)}`);
    // Once, for the audited receipt (0.8·0.5 + 0.2·0); the unaudited one moves nothing (SPEC v3).
    expect(rep.body.r).toBeCloseTo(0.4, 10);
  });
});

describe('committee size', () => {
  it('shrinks k to a small committee, and with none lets the client ACCEPTED finalize alone', async () => {
    const other = await createTestStack();
    const b = await other.broker({ POU_MIN_STAKE: '100', RATE_LIMIT_REGISTER: '1000' });
    const owner = await newClient(b.url);
    const provider = (await registeredAgent(b.url, owner)).signer;

    const client = newSigner();
    const lone = await settledReceipt(b.url, client, provider);
    expect(lone).toMatchObject({ committee: [], k: 0, m: 0, committee_shortfall: true });
    await signed(b.url, client, 'POST', `/api/receipts/${lone.task_id}/attestations`, {
      type: 'ACCEPTED',
      score: 1,
      confidence: 1,
    });
    expect(
      await (await fetch(`${b.url}/api/receipts/${lone.task_id}/finalize`, { method: 'POST' })).json(),
    ).toEqual({ ok: true, status: 'finalized' });

    const members = [];
    for (let i = 0; i < 2; i++)
      members.push((await registeredAgent(b.url, await newClient(b.url), { stake: '100' })).signer);
    const small = await settledReceipt(b.url, newSigner(), provider);
    expect(small).toMatchObject({ k: 2, m: 2, committee_shortfall: false });
    const path = `/api/receipts/${small.task_id}`;
    await signed(b.url, members[0]!, 'POST', `${path}/attestations`, {
      type: 'AUDIT_PASS',
      score: 1,
      confidence: 1,
    });
    const one = await fetch(`${b.url}${path}/finalize`, { method: 'POST' });
    expect(await one.json()).toMatchObject({ error: 'QUORUM_NOT_MET', needed: 2, have: 1 });
    await signed(b.url, members[1]!, 'POST', `${path}/attestations`, {
      type: 'AUDIT_PASS',
      score: 1,
      confidence: 1,
    });
    expect(await (await fetch(`${b.url}${path}/finalize`, { method: 'POST' })).json()).toEqual({
      ok: true,
      status: 'finalized',
    });
  });
});

describe('committee seats (SPEC section 10)', () => {
  it("gives one seat per owner address and none to the provider's owner", async () => {
    const other = await createTestStack();
    const b = await other.broker({ POU_MIN_STAKE: '100', RATE_LIMIT_REGISTER: '1000' });
    const providerOwner = await newClient(b.url);
    const provider = (await registeredAgent(b.url, providerOwner)).signer;
    // The provider's owner stakes three more agents; a second owner stakes four; a third one.
    for (let i = 0; i < 3; i++) await registeredAgent(b.url, providerOwner, { stake: '100' });
    const sybil = await newClient(b.url);
    const sybils: string[] = [];
    for (let i = 0; i < 4; i++)
      sybils.push((await registeredAgent(b.url, sybil, { stake: '100' })).signer.did);
    const honest = (await registeredAgent(b.url, await newClient(b.url), { stake: '100' })).signer.did;
    for (let round = 0; round < 5; round++) {
      const receipt = await settledReceipt(b.url, newSigner(), provider);
      expect(receipt.committee).toHaveLength(2);
      expect(receipt.committee).toContain(honest);
      expect(receipt.committee.filter((d: string) => sybils.includes(d))).toHaveLength(1);
    }
  });
});

describe('stakes and slash', () => {
  it('slashes the locked stake (never below zero) and multiplies reputation by 0.9', async () => {
    const owner = await newClient(broker.url);
    const agent = (await registeredAgent(broker.url, owner, { stake: '500' })).signer;
    const res = await fetch(`${broker.url}/api/admin/slash`, {
      method: 'POST',
      headers: {
        Authorization: 'Bearer test-admin-token-0123456789abcdef',
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({ did: agent.did, amount_atomic: '800', reason: 'lied in an audit' }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      applied_atomic: '500',
      locked_atomic: '0',
      reputation: { q: 0.45, trust_score: 0.45 },
    });
    const unauth = await fetch(`${broker.url}/api/admin/slash`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(unauth.status).toBe(401);
  });
});
