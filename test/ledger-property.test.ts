import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../app/errors.js';
import { distributeCredits } from '../app/jobs/credits.js';
import type { RunningBroker } from '../app/server.js';
import { deposit } from '../app/services/ledger-service.js';
import {
  actOnNegotiation,
  cancelIntent,
  createIntent,
  expireIntents,
  openNegotiation,
  settle,
} from '../app/services/negotiation-service.js';
import { slash, stake, withdrawStake } from '../app/services/reputation-service.js';
import { newClient } from './helpers/api.js';
import { newSigner, registeredAgent, type Signer } from './helpers/ainp.js';
import { ledgerProblems } from './helpers/ledger.js';
import { createTestStack, type TestStack } from './helpers/stack.js';

/**
 * SPEC section 10, as a property: random interleavings of deposits, intents, offers, settles,
 * expiries, cancels, stakes, withdrawals, slashes and emissions, run through the services against
 * the real database, some of them concurrently. After every run the books must balance: the
 * balances sum to 0, none but treasury is negative, every balance equals what its transfers add up
 * to (each transfer applied once), each client's escrow holds exactly the budgets of its open
 * intents, and each stake mirror equals its stake account.
 */

let stack: TestStack;
let broker: RunningBroker;
let clients: Signer[];
let providers: Signer[];
const HOUR = 3_600_000;
let clock = Math.floor(Date.now() / HOUR) * HOUR;
let run = 0;
let deals = 0;

beforeAll(async () => {
  stack = await createTestStack();
  broker = await stack.broker({
    RATE_LIMIT_REGISTER: '1000',
    POU_MIN_STAKE: '10',
    // The smallest minimum price (amounts under it are refused, 400, and change nothing: still checked).
    MIN_PRICE_ATOMIC: '10',
    REWARD_POOL_ATOMIC: '1000',
    MIN_USEFULNESS_FOR_REWARDS: '1',
  });
  clients = [newSigner(), newSigner(), newSigner()];
  providers = [];
  for (let i = 0; i < 3; i++)
    providers.push((await registeredAgent(broker.url, await newClient(broker.url))).signer);
  await stack.db.query(
    `INSERT INTO agent_usefulness (did, score, proofs) SELECT d, 10 * o, 1 FROM unnest($1::text[]) WITH ORDINALITY AS t (d, o)`,
    [providers.map((p) => p.did)],
  );
}, 60_000);

const who = fc.integer({ min: 0, max: 2 });
const amount = (max: number) => fc.integer({ min: 0, max }).map(String);
const op = fc.oneof(
  // A whole deal (deposit, intent, offer, accept, settle) between a random client and provider.
  fc.record({ t: fc.constant('deal' as const), i: who, p: who, budget: amount(900), price: amount(1000) }),
  fc.record({
    t: fc.constant('deposit' as const),
    client: fc.boolean(),
    i: who,
    amount: amount(2000),
    ref: fc.integer({ min: 0, max: 4 }),
  }),
  fc.record({ t: fc.constant('intent' as const), i: who, budget: amount(1500) }),
  fc.record({ t: fc.constant('offer' as const), intent: fc.nat(), p: who, price: amount(1600) }),
  fc.record({ t: fc.constant('settle' as const), neg: fc.nat() }),
  fc.record({ t: fc.constant('expire' as const), intent: fc.nat() }),
  fc.record({ t: fc.constant('cancel' as const), intent: fc.nat() }),
  fc.record({
    t: fc.constant('stake' as const),
    p: who,
    amount: amount(800),
    lock: fc.integer({ min: 1, max: 30 * 86_400 }),
  }),
  fc.record({ t: fc.constant('withdraw' as const), p: who, amount: amount(800) }),
  fc.record({ t: fc.constant('slash' as const), p: who, amount: amount(500) }),
  fc.record({ t: fc.constant('emission' as const) }),
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

async function apply(
  o: Op,
  state: { intents: { id: string; client: Signer }[]; negs: { id: string; client: Signer }[] },
) {
  const ctx = broker.ctx;
  const signal = new AbortController().signal;
  const pick = <T>(list: T[], n: number) => (list.length ? list[n % list.length] : undefined);
  switch (o.t) {
    case 'deal': {
      const client = clients[o.i]!;
      await deposit(ctx, {
        did: client.did,
        amount_atomic: String(Number(o.budget) + 1),
        reference: `deal-${run}-${++deals}`,
      });
      const intent = await createIntent(ctx, client.did, {
        intent_type: 'x',
        description: 'y',
        budget_atomic: o.budget,
      });
      state.intents.push({ id: intent.id, client });
      const n = await openNegotiation(ctx, providers[o.p]!.did, {
        intent_id: intent.id,
        price_atomic: o.price,
        eta_ms: 10,
      });
      state.negs.push({ id: n.id, client });
      await actOnNegotiation(ctx, client.did, n.id, 'accept');
      await settle(ctx, client.did, n.id, {});
      return;
    }
    case 'deposit': {
      const did = (o.client ? clients : providers)[o.i]!.did;
      await deposit(ctx, {
        did,
        amount_atomic: o.amount === '0' ? '1' : o.amount,
        reference: `r${run}-${o.ref}`,
      });
      return;
    }
    case 'intent': {
      const client = clients[o.i]!;
      const intent = await createIntent(ctx, client.did, {
        intent_type: 'x',
        description: 'y',
        budget_atomic: o.budget,
      });
      state.intents.push({ id: intent.id, client });
      return;
    }
    case 'offer': {
      const intent = pick(state.intents, o.intent);
      if (!intent) return;
      const n = await openNegotiation(ctx, providers[o.p]!.did, {
        intent_id: intent.id,
        price_atomic: o.price,
        eta_ms: 10,
      });
      state.negs.push({ id: n.id, client: intent.client });
      return;
    }
    case 'settle': {
      const n = pick(state.negs, o.neg);
      if (!n) return;
      await actOnNegotiation(ctx, n.client.did, n.id, 'accept').catch(refusal);
      await settle(ctx, n.client.did, n.id, {});
      return;
    }
    case 'expire': {
      const intent = pick(state.intents, o.intent);
      if (!intent) return;
      await stack.db.query(`UPDATE intents SET expires_at = now() - interval '1 second' WHERE id = $1`, [
        intent.id,
      ]);
      await expireIntents(ctx, signal, 5);
      return;
    }
    case 'cancel': {
      const intent = pick(state.intents, o.intent);
      if (intent) await cancelIntent(ctx, intent.client.did, intent.id);
      return;
    }
    case 'stake':
      await stake(ctx, providers[o.p]!.did, {
        amount_atomic: o.amount === '0' ? '1' : o.amount,
        lock_seconds: o.lock,
      });
      return;
    case 'withdraw': {
      const did = providers[o.p]!.did;
      await stack.db.query(`UPDATE stakes SET unlock_at = now() - interval '1 second' WHERE did = $1`, [did]);
      await withdrawStake(ctx, did, { amount_atomic: o.amount === '0' ? '1' : o.amount });
      return;
    }
    case 'slash':
      await slash(ctx, { did: providers[o.p]!.did, amount_atomic: o.amount, reason: 'property' });
      return;
    case 'emission':
      clock += HOUR;
      await distributeCredits(ctx, signal, new Date(clock));
      return;
  }
}

/** A refusal the API would answer with a 4xx is an expected outcome; anything else fails the run. */
function refusal(err: unknown): void {
  if (err instanceof AppError && err.status >= 400 && err.status < 500) return;
  throw err;
}

async function books(): Promise<string[]> {
  const problems = await ledgerProblems(stack.db);
  const escrow = await stack.db.query<{ account: string; held: string; open: string }>(
    `SELECT a.account, a.balance_atomic::text AS held, coalesce(i.s, 0)::text AS open
       FROM ledger_accounts a
       LEFT JOIN (SELECT 'escrow:' || client_did AS account, sum(budget_atomic) s FROM intents
                   WHERE status = 'open' AND escrowed GROUP BY 1) i ON i.account = a.account
      WHERE a.kind = 'escrow' AND a.balance_atomic <> coalesce(i.s, 0)`,
  );
  for (const r of escrow.rows) problems.push(`${r.account} holds ${r.held}, its open intents ${r.open}`);
  const stakes = await stack.db.query<{ did: string }>(
    `SELECT s.did FROM stakes s LEFT JOIN ledger_accounts a ON a.account = 'stake:' || s.did
      WHERE s.locked_atomic <> coalesce(a.balance_atomic, 0)`,
  );
  for (const r of stakes.rows)
    problems.push(`stakes.locked_atomic of ${r.did} differs from its stake account`);
  return problems;
}

describe('the ledger under random interleavings (fast-check)', () => {
  it('balances after every run, whatever the order and concurrency of the operations', async () => {
    const outcomes = { applied: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(op, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 12 }),
        async (chunks) => {
          run += 1;
          const state = {
            intents: [] as { id: string; client: Signer }[],
            negs: [] as { id: string; client: Signer }[],
          };
          for (const chunk of chunks) {
            // The operations of a chunk run at once: their transactions interleave in PostgreSQL.
            const results = await Promise.allSettled(chunk.map((o) => apply(o, state)));
            for (const r of results) {
              if (r.status === 'fulfilled') outcomes.applied += 1;
              else {
                refusal(r.reason);
                outcomes.refused += 1;
              }
            }
          }
          expect(await books()).toEqual([]);
        },
      ),
      { numRuns: 25, seed: Number(process.env.LEDGER_PROPERTY_SEED ?? Date.now() % 2 ** 31) },
    );
    // The runs must have moved money, not only been refused.
    expect(outcomes.applied).toBeGreaterThan(50);
    const kinds = await stack.db.query<{ kind: string }>(`SELECT DISTINCT kind FROM ledger_transfers`);
    expect(kinds.rows.map((r) => r.kind).sort()).toEqual(
      expect.arrayContaining([
        'deposit',
        'emission',
        'escrow_release',
        'intent_escrow',
        'reward',
        'settlement',
        'stake',
      ]),
    );
  }, 120_000);
});
