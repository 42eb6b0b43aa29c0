import path from 'node:path';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { finalizePending } from '../app/jobs/finalizer.js';
import { loadMigrations, migrateUp } from '../app/migrate/runner.js';
import type { RunningBroker } from '../app/server.js';
import { call, newClient, type Client } from './helpers/api.js';
import { ADMIN_TOKEN } from './helpers/admin-token.js';
import {
  auditedReceipt,
  fund,
  newSigner,
  registeredAgent,
  settledReceipt,
  signed,
  STAKE_LOCK_SECONDS,
  type Signer,
} from './helpers/ainp.js';
import { ledgerProblems } from './helpers/ledger.js';
import { createTestStack, type TestStack } from './helpers/stack.js';

let stack: TestStack;
let broker: RunningBroker;
let owner: Client;
let provider: Signer;

beforeAll(async () => {
  stack = await createTestStack();
  // The smallest minimum price allowed, so the amounts below stay small.
  broker = await stack.broker({ RATE_LIMIT_REGISTER: '1000', POU_MIN_STAKE: '1000', MIN_PRICE_ATOMIC: '10' });
  owner = await newClient(broker.url);
  provider = (await registeredAgent(broker.url, owner, { name: 'provider' })).signer;
});

const deposit = (body: Record<string, unknown>, token = ADMIN_TOKEN) =>
  call(broker.url, 'POST', '/api/admin/deposits', { token, body });
const credits = async (s: Signer) =>
  (await signed(broker.url, s, 'GET', `/api/credits/${encodeURIComponent(s.did)}`)).body;
const openIntent = (client: Signer, budget: string, description = 'y') =>
  signed(broker.url, client, 'POST', '/api/intents', {
    intent_type: 'x',
    description,
    budget_atomic: budget,
  });
const offer = (intentId: string, price: string, by = provider) =>
  signed(broker.url, by, 'POST', '/api/negotiations', {
    intent_id: intentId,
    price_atomic: price,
    eta_ms: 10,
  });
const count = async (sql: string, params: unknown[] = []) =>
  Number((await stack.db.query(sql, params)).rows[0].n);

describe('deposits (admin, idempotent by reference)', () => {
  it('moves treasury → available once per reference, and refuses the reference for another deposit', async () => {
    const s = newSigner();
    const body = { did: s.did, amount_atomic: '500', reference: `ref-${s.did.slice(-8)}` };
    const first = await deposit(body);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      replayed: false,
      transfer: { debit_account: 'treasury', credit_account: `available:${s.did}`, amount_atomic: '500' },
      balances: { available: '500', escrow: '0', stake: '0' },
    });
    const again = await deposit(body);
    expect(again.body).toMatchObject({ replayed: true, balances: { available: '500' } });
    const other = await deposit({ ...body, amount_atomic: '501' });
    expect(other.status).toBe(409);
    expect(other.body.error).toBe('REFERENCE_REUSED');
    expect((await credits(s)).available).toBe('500');
  });

  it('the same deposit sent five times at once credits once; every answer is that transfer', async () => {
    const s = newSigner();
    const body = { did: s.did, amount_atomic: '700', reference: `dep-race-${s.did.slice(-8)}` };
    const answers = await Promise.all(Array.from({ length: 5 }, () => deposit(body)));
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201, 201]);
    expect(answers.filter((a) => !a.body.replayed)).toHaveLength(1);
    expect(new Set(answers.map((a) => a.body.transfer.id))).toEqual(new Set([`deposit:${body.reference}`]));
    expect((await credits(s)).available).toBe('700');
    expect(await ledgerProblems(stack.db)).toEqual([]);
  });

  it('refuses a missing admin token (401), a DID that is not a did:key (400) and a zero amount (400)', async () => {
    const s = newSigner();
    expect((await deposit({ did: s.did, amount_atomic: '1', reference: 'x1' }, 'wrong')).status).toBe(401);
    const bad = await deposit({ did: 'did:key:zNotAKey', amount_atomic: '1', reference: 'x2' });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/^did /);
    expect((await deposit({ did: s.did, amount_atomic: '0', reference: 'x3' })).status).toBe(400);
  });
});

const withdraw = (body: Record<string, unknown>, token = ADMIN_TOKEN) =>
  call(broker.url, 'POST', '/api/admin/withdrawals', { token, body });

describe('POST /api/admin/withdrawals (available → treasury, idempotent by reference)', () => {
  it('moves available → treasury once per reference; a repeat answers the same transfer and moves nothing', async () => {
    const s = newSigner();
    await fund(broker.url, s.did, '1000');
    const treasury = async () =>
      (
        await stack.db.query(
          `SELECT balance_atomic::text AS b FROM ledger_accounts WHERE account = 'treasury'`,
        )
      ).rows[0].b as string;
    const before = await treasury();
    const body = { did: s.did, amount_atomic: '400', reference: `wd-${s.did.slice(-8)}` };
    const first = await withdraw(body);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      replayed: false,
      transfer: {
        id: `withdrawal:${body.reference}`,
        kind: 'withdrawal',
        debit_account: `available:${s.did}`,
        credit_account: 'treasury',
        amount_atomic: '400',
        reference: body.reference,
      },
      balances: { available: '600', escrow: '0', stake: '0' },
    });
    expect(BigInt(await treasury()) - BigInt(before)).toBe(400n);
    const again = await withdraw(body);
    expect(again.status).toBe(201);
    expect(again.body).toEqual({ ...first.body, replayed: true });
    expect((await credits(s)).available).toBe('600');
    // Spend the rest: a repeat of the first is still that withdrawal, not an overdraft.
    expect(
      (await withdraw({ ...body, amount_atomic: '600', reference: `${body.reference}-rest` })).status,
    ).toBe(201);
    const late = await withdraw(body);
    expect([late.status, late.body.replayed, late.body.transfer.id]).toEqual([
      201,
      true,
      first.body.transfer.id,
    ]);
    expect((await credits(s)).available).toBe('0');
    expect(
      await count(`SELECT count(*) AS n FROM ledger_transfers WHERE id = $1`, [
        `withdrawal:${body.reference}`,
      ]),
    ).toBe(1);
    expect(await ledgerProblems(stack.db)).toEqual([]);
  });

  it('the same reference with another amount or DID is 409 REFERENCE_REUSED, and moves nothing', async () => {
    const s = newSigner();
    const other = newSigner();
    await fund(broker.url, s.did, '1000');
    await fund(broker.url, other.did, '1000');
    const body = { did: s.did, amount_atomic: '100', reference: `wd-reuse-${s.did.slice(-8)}` };
    expect((await withdraw(body)).status).toBe(201);
    const amount = await withdraw({ ...body, amount_atomic: '101' });
    expect([amount.status, amount.body.error]).toEqual([409, 'REFERENCE_REUSED']);
    expect(amount.body.message).toBe(
      `reference ${body.reference} was already used for another withdrawal (100 from available:${s.did})`,
    );
    const did = await withdraw({ ...body, did: other.did });
    expect([did.status, did.body.error]).toEqual([409, 'REFERENCE_REUSED']);
    expect([(await credits(s)).available, (await credits(other)).available]).toEqual(['900', '1000']);
  });

  it('beyond the available balance is 409 INSUFFICIENT_FUNDS (escrow and stake are not available)', async () => {
    const client = newSigner();
    await fund(broker.url, client.did, '1000');
    expect((await openIntent(client, '700')).status).toBe(201);
    const res = await withdraw({
      did: client.did,
      amount_atomic: '301',
      reference: `wd-over-${client.did.slice(-8)}`,
    });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({
      error: 'INSUFFICIENT_FUNDS',
      account: `available:${client.did}`,
      balance_atomic: '300',
      needed_atomic: '301',
    });
    expect(await credits(client)).toMatchObject({ available: '300', escrow: '700' });
    // Nothing was recorded under that reference: it can be used again for what fits.
    const fits = await withdraw({
      did: client.did,
      amount_atomic: '300',
      reference: `wd-over-${client.did.slice(-8)}`,
    });
    expect([fits.status, fits.body.replayed, fits.body.balances.available]).toEqual([201, false, '0']);
  });

  it('the same withdrawal sent five times at once moves the money once; every answer is that transfer', async () => {
    const s = newSigner();
    await fund(broker.url, s.did, '500');
    const body = { did: s.did, amount_atomic: '500', reference: `wd-race-${s.did.slice(-8)}` };
    const answers = await Promise.all(Array.from({ length: 5 }, () => withdraw(body)));
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201, 201]);
    expect(answers.filter((a) => !a.body.replayed)).toHaveLength(1);
    expect(new Set(answers.map((a) => a.body.transfer.id))).toEqual(
      new Set([`withdrawal:${body.reference}`]),
    );
    expect((await credits(s)).available).toBe('0');
    expect(await ledgerProblems(stack.db)).toEqual([]);
  });

  it('refuses a missing admin token (401) and bad input (400), never a 500', async () => {
    const s = newSigner();
    const body = { did: s.did, amount_atomic: '1', reference: 'wd-bad' };
    expect((await withdraw(body, 'wrong')).status).toBe(401);
    for (const bad of [
      { ...body, did: 'did:key:zNotAKey' },
      { ...body, amount_atomic: '0' },
      { ...body, amount_atomic: '-5' },
      { ...body, amount_atomic: 12 },
      { ...body, reference: 'has space' },
      { ...body, extra: true },
      { did: s.did, amount_atomic: '1' },
    ]) {
      const res = await withdraw(bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(res.body.error).toBe('VALIDATION_ERROR');
    }
  });
});

describe('GET /api/admin/ledger/system (the system accounts, for the books and the smoke)', () => {
  it("answers each system account's balance as the ledger has it; a deposit and its withdrawal leave them as they were", async () => {
    const system = async () => {
      const res = await call(broker.url, 'GET', '/api/admin/ledger/system', { token: ADMIN_TOKEN });
      expect(res.status).toBe(200);
      return res.body as Record<string, string>;
    };
    const fromDb = async () =>
      Object.fromEntries(
        (
          await stack.db.query<{ account: string; b: string }>(
            `SELECT account, balance_atomic::text AS b FROM ledger_accounts
              WHERE account IN ('treasury', 'broker', 'validators', 'pool')`,
          )
        ).rows.map((r) => [`${r.account}_atomic`, r.b]),
      );
    const before = await system();
    expect(Object.keys(before).sort()).toEqual([
      'broker_atomic',
      'pool_atomic',
      'treasury_atomic',
      'validators_atomic',
    ]);
    expect({ ...before, ...(await fromDb()) }).toEqual(before);
    const s = newSigner();
    await fund(broker.url, s.did, '700');
    const funded = await system();
    expect(BigInt(funded.treasury_atomic!) - BigInt(before.treasury_atomic!)).toBe(-700n);
    const wd = { did: s.did, amount_atomic: '700', reference: `sys-${s.did.slice(-8)}` };
    expect((await withdraw(wd)).status).toBe(201);
    expect(await system()).toEqual(before);
  });

  it('refuses a missing or wrong admin token (401)', async () => {
    expect((await call(broker.url, 'GET', '/api/admin/ledger/system')).status).toBe(401);
    expect((await call(broker.url, 'GET', '/api/admin/ledger/system', { token: 'wrong' })).status).toBe(401);
  });
});

describe('intent escrow (H3: credits from nothing)', () => {
  it('refuses an intent its client cannot fund (409) and writes nothing', async () => {
    const client = newSigner();
    const res = await openIntent(client, '1000');
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({
      error: 'INSUFFICIENT_FUNDS',
      needed_atomic: '1000',
      balance_atomic: '0',
    });
    expect(await count(`SELECT count(*) AS n FROM intents WHERE client_did = $1`, [client.did])).toBe(0);
  });

  it("escrows under the accounts' lock: a budget equal to the balance opens, a zero budget is refused, and intents racing for one balance open only as many as it covers", async () => {
    const client = newSigner();
    await fund(broker.url, client.did, '1000');
    const exact = await openIntent(client, '1000');
    expect(exact.status).toBe(201);
    expect(await credits(client)).toMatchObject({ available: '0', escrow: '1000' });
    // A zero budget is below the minimum price (SPEC v3): refused, and nothing is written.
    const zero = await openIntent(client, '0');
    expect(zero.status).toBe(400);
    expect(await count(`SELECT count(*) AS n FROM intents WHERE client_did = $1`, [client.did])).toBe(1);
    const short = await openIntent(client, '10');
    expect(short.status).toBe(409);
    expect(short.body).toMatchObject({
      error: 'INSUFFICIENT_FUNDS',
      balance_atomic: '0',
      needed_atomic: '10',
    });

    // 10 intents of 300 sent at once against 1,000: whatever their interleaving (the balance is read
    // under the accounts' lock), exactly 3 open and the other 7 are refused with the balance left.
    const racer = newSigner();
    await fund(broker.url, racer.did, '1000');
    // (Distinct descriptions: two identical requests signed in the same millisecond carry the same
    // Ed25519 signature, and the second is refused as a replay.)
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => openIntent(racer, '300', `race ${i}`)),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 201, 201, 409, 409, 409, 409, 409, 409, 409]);
    for (const r of results.filter((x) => x.status === 409)) expect(r.body.balance_atomic).toBe('100');
    expect(await credits(racer)).toMatchObject({ available: '100', escrow: '900' });
    expect(await count(`SELECT count(*) AS n FROM intents WHERE client_did = $1`, [racer.did])).toBe(3);
  });

  it('refuses an offer above the budget (400), first or counter, so a price of 9×78 never pays', async () => {
    const client = newSigner();
    await fund(broker.url, client.did, '10');
    const intent = (await openIntent(client, '10')).body;
    expect((await credits(client)).escrow).toBe('10');
    const over = await offer(intent.id, '11');
    expect(over.status).toBe(400);
    expect(over.body.message).toContain("above the intent's budget_atomic 10");
    expect((await offer(intent.id, '9'.repeat(78))).status).toBe(400);
    const neg = (await offer(intent.id, '10')).body;
    const counter = await signed(broker.url, client, 'POST', `/api/negotiations/${neg.id}/propose`, {
      price_atomic: '11',
      eta_ms: 10,
    });
    expect(counter.status).toBe(400);
  });

  it('settles an intent once: a second accepted negotiation of it is 409 and nothing is paid twice', async () => {
    const client = newSigner();
    await fund(broker.url, client.did, '100');
    const intent = (await openIntent(client, '100')).body;
    const other = (await registeredAgent(broker.url, await newClient(broker.url))).signer;
    const a = (await offer(intent.id, '60')).body;
    const b = (await offer(intent.id, '70', other)).body;
    for (const n of [a, b])
      expect((await signed(broker.url, client, 'POST', `/api/negotiations/${n.id}/accept`, {})).status).toBe(
        200,
      );
    expect((await signed(broker.url, client, 'POST', `/api/negotiations/${a.id}/settle`, {})).status).toBe(
      201,
    );
    const second = await signed(broker.url, client, 'POST', `/api/negotiations/${b.id}/settle`, {});
    expect(second.status).toBe(409);
    expect(second.body.message).toBe('The intent is settled');
    expect(await credits(client)).toMatchObject({ available: '40', escrow: '0' });
    expect((await credits(provider)).available).not.toBe('0');
    expect((await credits(other)).available).toBe('0');
  });

  it('releases the escrow when the client cancels, and refuses the cancel while an accepted negotiation may settle', async () => {
    const client = newSigner();
    await fund(broker.url, client.did, '50');
    const intent = (await openIntent(client, '50')).body;
    const neg = (await offer(intent.id, '50')).body;
    await signed(broker.url, client, 'POST', `/api/negotiations/${neg.id}/accept`, {});
    const cancel = () => signed(broker.url, client, 'POST', `/api/intents/${intent.id}/cancel`, {});
    expect((await cancel()).status).toBe(409);
    expect((await signed(broker.url, provider, 'POST', `/api/intents/${intent.id}/cancel`, {})).status).toBe(
      403,
    );
    await stack.db.query(`UPDATE negotiations SET expires_at = now() - interval '1 second' WHERE id = $1`, [
      neg.id,
    ]);
    const done = await cancel();
    expect(done.status).toBe(200);
    expect(done.body.status).toBe('cancelled');
    expect(await credits(client)).toMatchObject({ available: '50', escrow: '0' });
    expect((await cancel()).status).toBe(409);
  });

  it('expires an intent past its TTL in the finalizer run, releases its escrow, and refuses to settle it', async () => {
    const client = newSigner();
    await fund(broker.url, client.did, '30');
    const intent = (await openIntent(client, '30')).body;
    const neg = (await offer(intent.id, '30')).body;
    await signed(broker.url, client, 'POST', `/api/negotiations/${neg.id}/accept`, {});
    await stack.db.query(`UPDATE intents SET expires_at = now() - interval '1 second' WHERE id = $1`, [
      intent.id,
    ]);
    const settle = await signed(broker.url, client, 'POST', `/api/negotiations/${neg.id}/settle`, {});
    expect(settle.status).toBe(409);
    expect(settle.body.message).toBe('The intent has expired');
    const run = await finalizePending(broker.ctx, new AbortController().signal);
    expect(run.intents_expired).toBeGreaterThanOrEqual(1);
    expect((await signed(broker.url, client, 'GET', `/api/intents/${intent.id}`)).body.status).toBe(
      'expired',
    );
    expect(await credits(client)).toMatchObject({ available: '30', escrow: '0' });
    expect(
      await count(`SELECT count(*) AS n FROM ledger_transfers WHERE id = $1`, [`release:${intent.id}`]),
    ).toBe(1);
  });
});

describe('stakes from real funds (H4)', () => {
  it('refuses a stake with no funds behind it (409) and a lock of 0 seconds (400)', async () => {
    const agent = (await registeredAgent(broker.url, await newClient(broker.url))).signer;
    const res = await signed(broker.url, agent, 'POST', '/api/stakes', {
      amount_atomic: '1000000',
      lock_seconds: 3600,
    });
    expect(res.status).toBe(409);
    expect(res.body.error).toBe('INSUFFICIENT_FUNDS');
    const zero = await signed(broker.url, agent, 'POST', '/api/stakes', {
      amount_atomic: '1',
      lock_seconds: 0,
    });
    expect(zero.status).toBe(400);
    expect(
      await count(`SELECT count(*) AS n FROM ledger_transfers WHERE kind = 'stake' AND reference = $1`, [
        agent.did,
      ]),
    ).toBe(0);
  });

  it('stakes from available, withdraws only after the lock, and a slash moves stake to the pool (never below zero)', async () => {
    const agent = (await registeredAgent(broker.url, await newClient(broker.url))).signer;
    await fund(broker.url, agent.did, '5000');
    const staked = await signed(broker.url, agent, 'POST', '/api/stakes', {
      amount_atomic: '3000',
      lock_seconds: 3600,
    });
    expect(staked.status).toBe(201);
    expect(staked.body.locked_atomic).toBe('3000');
    expect(await credits(agent)).toMatchObject({ available: '2000', stake: '3000' });
    const withdraw = (amount: string) =>
      signed(broker.url, agent, 'POST', '/api/stakes/withdraw', { amount_atomic: amount });
    const locked = await withdraw('1000');
    expect(locked.status).toBe(409);
    expect(locked.body.error).toBe('STAKE_LOCKED');
    await stack.db.query(`UPDATE stakes SET unlock_at = now() - interval '1 second' WHERE did = $1`, [
      agent.did,
    ]);
    expect((await withdraw('3001')).body.error).toBe('INSUFFICIENT_FUNDS');
    expect((await withdraw('1000')).status).toBe(200);
    expect(await credits(agent)).toMatchObject({ available: '3000', stake: '2000' });
    const poolBefore = (
      await stack.db.query(`SELECT balance_atomic::text AS b FROM ledger_accounts WHERE account = 'pool'`)
    ).rows[0].b;
    const slash = await call(broker.url, 'POST', '/api/admin/slash', {
      token: ADMIN_TOKEN,
      body: { did: agent.did, amount_atomic: '999999', reason: 'test' },
    });
    expect(slash.body).toMatchObject({ applied_atomic: '2000', locked_atomic: '0' });
    const poolAfter = (
      await stack.db.query(`SELECT balance_atomic::text AS b FROM ledger_accounts WHERE account = 'pool'`)
    ).rows[0].b;
    expect(BigInt(poolAfter) - BigInt(poolBefore)).toBe(2000n);
    expect((await credits(agent)).stake).toBe('0');
  });

  it('seats on a committee only stake locked for a whole receipt life', async () => {
    const other = await createTestStack();
    const b = await other.broker({ POU_MIN_STAKE: '10', RECEIPT_TTL_HOURS: '24' });
    const prov = (await registeredAgent(b.url, await newClient(b.url))).signer;
    const short = (await registeredAgent(b.url, await newClient(b.url))).signer;
    const long = (await registeredAgent(b.url, await newClient(b.url), { stake: '10' })).signer;
    await fund(b.url, short.did, '10');
    await signed(b.url, short, 'POST', '/api/stakes', { amount_atomic: '10', lock_seconds: 3600 });
    const receipt = await settledReceipt(b.url, newSigner(), prov);
    expect(receipt.committee).toEqual([long.did]);
    expect(STAKE_LOCK_SECONDS).toBeGreaterThan(24 * 3600);
  });
});

describe('usefulness proofs name a finalized receipt of the prover (H4)', () => {
  it('refuses a missing, foreign or unfinalized receipt, and a second proof of one receipt', async () => {
    const client = newSigner();
    const receipt = await settledReceipt(broker.url, client, provider);
    const metrics = { compute_ms: 1000, memory_mb: 5, hops: 1, checks: 1, samples: 10 };
    const prove = (s: Signer, taskId: string, trace = `t-${Math.random()}`) =>
      signed(broker.url, s, 'POST', '/api/usefulness/proofs', { trace_id: trace, task_id: taskId, metrics });
    expect(
      (await signed(broker.url, provider, 'POST', '/api/usefulness/proofs', { trace_id: 'x', metrics }))
        .status,
    ).toBe(400);
    expect((await prove(provider, '00000000-0000-4000-8000-000000000000')).status).toBe(404);
    const pending = await prove(provider, receipt.task_id);
    expect(pending.status).toBe(409);
    expect(pending.body.error).toBe('RECEIPT_NOT_FINALIZED');
    await signed(broker.url, client, 'POST', `/api/receipts/${receipt.task_id}/attestations`, {
      type: 'ACCEPTED',
      score: 1,
      confidence: 1,
    });
    // No agent here has stake locked for a receipt's life: the client's ACCEPTED alone finalizes.
    expect(receipt.committee).toEqual([]);
    const fin = await fetch(`${broker.url}/api/receipts/${receipt.task_id}/finalize`, { method: 'POST' });
    expect(((await fin.json()) as { status: string }).status).toBe('finalized');
    const stranger = (await registeredAgent(broker.url, await newClient(broker.url))).signer;
    expect((await prove(stranger, receipt.task_id)).status).toBe(403);
    // Finalized without a committee: unaudited work backs no proof (SPEC v3).
    const unaudited = await prove(provider, receipt.task_id);
    expect(unaudited.status).toBe(409);
    expect(unaudited.body.error).toBe('UNAUDITED_RECEIPT');
    // With a staked auditor of another owner, the next receipt is audited, and backs one proof.
    const auditor = (await registeredAgent(broker.url, await newClient(broker.url), { stake: '1000' }))
      .signer;
    const audited = await auditedReceipt(broker.url, provider, [auditor]);
    expect((await prove(provider, audited.task_id)).status).toBe(201);
    const again = await prove(provider, audited.task_id);
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('DUPLICATE_PROOF');
  });
});

describe('the database keeps the books', () => {
  it('refuses to update or delete a transfer, or to write a balance directly', async () => {
    const s = newSigner();
    await fund(broker.url, s.did, '7');
    await expect(
      stack.db.query(`UPDATE ledger_transfers SET amount_atomic = 8 WHERE credit_account = $1`, [
        `available:${s.did}`,
      ]),
    ).rejects.toThrow(/append-only/);
    await expect(
      stack.db.query(`DELETE FROM ledger_transfers WHERE credit_account = $1`, [`available:${s.did}`]),
    ).rejects.toThrow(/append-only/);
    await expect(
      stack.db.query(`UPDATE ledger_accounts SET balance_atomic = 1000000 WHERE account = $1`, [
        `available:${s.did}`,
      ]),
    ).rejects.toThrow(/only through ledger_transfers/);
    // A transfer that would overdraw is refused by the CHECK even without the service's own check.
    await expect(
      stack.db.query(
        `INSERT INTO ledger_transfers (id, debit_account, credit_account, amount_atomic, kind) VALUES ('t-over', $1, 'pool', 8, 'test')`,
        [`available:${s.did}`],
      ),
    ).rejects.toThrow(/ledger_accounts_non_negative/);
    expect(await ledgerProblems(stack.db)).toEqual([]);
  });

  it('exports ainp_ledger_imbalance_atomic = 0', async () => {
    const text = await (await fetch(`${broker.url}/metrics`)).text();
    expect(text).toMatch(/^ainp_ledger_imbalance_atomic 0$/m);
  });
});

describe('expand/contract: the ledger migration carries the previous ledger over', () => {
  it('turns credit_ledger rows, stakes and the carried remainder into transfers from treasury, and mirrors later writes', async () => {
    const other = await createTestStack();
    const db = new pg.Pool({ connectionString: other.databaseUrl, max: 2 });
    try {
      const files = await loadMigrations(path.resolve('migrations'));
      await migrateUp(
        db,
        files.filter((f) => f.version <= 6),
      );
      await db.query(`
        INSERT INTO credit_ledger (account, did, kind, amount_atomic) VALUES
          ('agent', 'did:key:zOld', 'settlement', 700), ('broker', NULL, 'settlement', 100),
          ('validators', NULL, 'settlement', 100), ('pool', NULL, 'settlement', 100),
          ('agent', 'did:key:zOld', 'reward', 33);
        INSERT INTO stakes (did, locked_atomic, unlock_at) VALUES ('did:key:zStaker', 5000, now() + interval '7 days');
        INSERT INTO credit_windows (window_start, pool_atomic, carried_in_atomic, distributed_atomic, carried_out_atomic, recipients)
          VALUES (date_trunc('hour', now()) - interval '2 hours', 1000, 0, 993, 7, 3);`);
      await migrateUp(db, files);
      const balances = async () =>
        Object.fromEntries(
          (
            await db.query(`SELECT account, balance_atomic::text AS b FROM ledger_accounts ORDER BY account`)
          ).rows.map((r) => [r.account, r.b]),
        );
      expect(await balances()).toEqual({
        'available:did:key:zOld': '733',
        broker: '100',
        pool: '107',
        'stake:did:key:zStaker': '5000',
        treasury: '-6040',
        validators: '100',
      });
      // The previous release, still running during a rolling update, writes credit_ledger.
      await db.query(
        `INSERT INTO credit_ledger (account, did, kind, amount_atomic) VALUES ('agent', 'did:key:zOld', 'reward', 5)`,
      );
      expect((await balances())['available:did:key:zOld']).toBe('738');
      expect(await ledgerProblems(db)).toEqual([]);
    } finally {
      await db.end();
    }
  });
});
