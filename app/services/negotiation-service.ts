import { randomBytes, randomUUID } from 'node:crypto';
import type { AppContext } from '../context.js';
import { withTransaction } from '../data/db.js';
import type { Queryable } from '../data/sql.js';
import { appendEvents } from '../data/event-repository.js';
import { applyTransfers, applyTransfersWithEvents, insufficientFunds } from '../data/ledger-repository.js';
import {
  findIntent,
  findNegotiation,
  hasLiveAcceptedNegotiation,
  insertEscrowedIntent,
  insertNegotiation,
  intentIsLive,
  lockExpiredIntents,
  setIntentStatus,
  settleNegotiationRows,
  updateNegotiation,
  type IntentRecord,
  type NegotiationRecord,
} from '../data/negotiation-repository.js';
import {
  receiptInsertSql,
  toReceipt,
  type ReceiptRecord,
  type ReceiptRow,
} from '../data/receipt-repository.js';
import { eligibleCandidates } from '../data/reputation-repository.js';
import { effectiveQuorum, selectCommittee, weightFromTrust } from '../domain/committee.js';
import { escrowTransfer, releaseTransfer, settlementTransfers } from '../domain/ledger.js';
import {
  transition,
  type NegotiationAction,
  type NegotiationState,
  type Party,
} from '../domain/negotiation.js';
import { AppError } from '../errors.js';
import type { IntentInput, NegotiationInput, OfferInput, SettleInput } from '../schemas/pou.js';
import { invalidateAgentsByDid, requireRegisteredAgent } from './agents-service.js';

const MAX_OFFERS = 50;

/** A refusal decided inside a transaction that must still commit (an expiry), thrown after it. */
type Refusal = { reason: 'INVALID_STATE' | 'FORBIDDEN'; message: string };
type Outcome<T> = { refusal: Refusal; value?: undefined } | { refusal?: undefined; value: T };

function unwrap<T>(o: Outcome<T>): T {
  if (o.refusal) {
    const { reason, message } = o.refusal;
    throw reason === 'FORBIDDEN' ? AppError.forbidden(message) : AppError.conflict(message, 'INVALID_STATE');
  }
  return o.value as T;
}

/**
 * Opens an intent and escrows its budget from the client's available balance, in one transaction
 * (409 INSUFFICIENT_FUNDS, and no intent, when the balance is short).
 */
export async function createIntent(ctx: AppContext, did: string, body: IntentInput) {
  requireMinimum(ctx, 'budget_atomic', body.budget_atomic);
  const transfer = escrowTransfer(randomUUID(), did, BigInt(body.budget_atomic));
  const opened = await insertEscrowedIntent(
    ctx.db,
    { ...body, client_did: did, ttlMinutes: ctx.settings.pou.intentTtlMinutes },
    transfer,
  );
  if ('shortOf' in opened) throw insufficientFunds(transfer.debit, opened.shortOf, transfer.amount);
  return opened.intent;
}

/**
 * SPEC section 10 (v3): a budget or a price below MIN_PRICE_ATOMIC is 400, so every receipt moves
 * real funds and pays its fees (self-dealt receipts at a price of 0 farmed reputation for free).
 */
function requireMinimum(ctx: AppContext, field: 'budget_atomic' | 'price_atomic', amount: string): void {
  const min = ctx.settings.pou.minPriceAtomic;
  if (BigInt(amount) < min)
    throw AppError.validation(`${field} ${amount} is below the minimum price ${min}`, [
      { field, message: `must be at least ${min} (MIN_PRICE_ATOMIC)` },
    ]);
}

/** SPEC section 10: an offer above the intent's budget is 400 (the escrow could not pay it). */
function requireWithinBudget(intent: IntentRecord, price: string): void {
  if (BigInt(price) > BigInt(intent.budget_atomic)) {
    throw AppError.validation(
      `price_atomic ${price} is above the intent's budget_atomic ${intent.budget_atomic}`,
      [{ path: 'price_atomic', message: `must be at most the intent's budget (${intent.budget_atomic})` }],
    );
  }
}

function requireLiveIntent(intent: IntentRecord): void {
  if (!intentIsLive(intent))
    throw AppError.conflict(
      intent.status === 'open' ? 'The intent has expired' : `The intent is ${intent.status}`,
      'INVALID_STATE',
    );
}

export async function openNegotiation(ctx: AppContext, did: string, body: NegotiationInput) {
  await requireRegisteredAgent(ctx, did, 'a provider');
  const intent = await findIntent(ctx.db, body.intent_id);
  if (!intent) throw AppError.notFound(`No intent ${body.intent_id}`);
  requireLiveIntent(intent);
  if (intent.client_did === did) throw AppError.forbidden('A client cannot negotiate with itself');
  requireMinimum(ctx, 'price_atomic', body.price_atomic);
  requireWithinBudget(intent, body.price_atomic);
  return withTransaction(ctx.db, async (tx) => {
    const n = await insertNegotiation(tx, {
      intent_id: intent.id,
      client_did: intent.client_did,
      agent_did: did,
      price_atomic: body.price_atomic,
      eta_ms: body.eta_ms,
      ttlMinutes: ctx.settings.pou.negotiationTtlMinutes,
    });
    await appendEvents(tx, [negotiationEvent(n)]);
    return n;
  });
}

/** negotiation.<state> (a counter-offer is negotiation.proposed again) for both parties. */
function negotiationEvent(n: NegotiationRecord) {
  return {
    type: `negotiation.${n.state}`,
    recipients: [n.client_did, n.agent_did],
    payload: { negotiation: n },
  };
}

function partyOf(n: NegotiationRecord, did: string): Party {
  if (did === n.client_did) return 'client';
  if (did === n.agent_did) return 'agent';
  throw AppError.forbidden('Only the client and the provider of this negotiation may act on it');
}

/**
 * Locks the negotiation and checks that `did` may take `action` now; an expired negotiation is
 * marked expired here (the caller commits it) and the action refused.
 */
async function lockForAction(
  tx: Queryable,
  id: string,
  did: string,
  action: NegotiationAction,
): Promise<
  { refusal: Refusal } | { refusal?: undefined; n: NegotiationRecord; party: Party; state: NegotiationState }
> {
  const n = await findNegotiation(tx, id, true);
  if (!n) throw AppError.notFound(`No negotiation ${id}`);
  const party = partyOf(n, did);
  const t = transition(
    { state: n.state, lastOfferBy: n.last_offer_by, expiresAt: new Date(n.expires_at) },
    action,
    party,
    new Date(),
  );
  if (!t.ok) {
    if (t.expired)
      await appendEvents(tx, [negotiationEvent(await updateNegotiation(tx, id, { state: 'expired' }))]);
    return { refusal: t };
  }
  return { n, party, state: t.state };
}

/**
 * Applies propose / accept / reject under a row lock. An expired negotiation is recorded as
 * expired (committed) and the action refused with INVALID_STATE.
 */
export async function actOnNegotiation(
  ctx: AppContext,
  did: string,
  id: string,
  action: Exclude<NegotiationAction, 'settle'>,
  offer?: OfferInput,
) {
  const outcome = await withTransaction(ctx.db, async (tx): Promise<Outcome<NegotiationRecord>> => {
    const locked = await lockForAction(tx, id, did, action);
    if (locked.refusal) return { refusal: locked.refusal };
    const { n, party, state } = locked;
    if (action === 'propose' && n.offers.length >= MAX_OFFERS) {
      return {
        refusal: { reason: 'INVALID_STATE', message: `At most ${MAX_OFFERS} offers per negotiation` },
      };
    }
    if (offer) {
      requireMinimum(ctx, 'price_atomic', offer.price_atomic);
      requireWithinBudget((await findIntent(tx, n.intent_id))!, offer.price_atomic);
    }
    const change = offer
      ? { state, offer: { by: party, ...offer, at: new Date().toISOString() } }
      : { state };
    const updated = await updateNegotiation(tx, id, change);
    await appendEvents(tx, [negotiationEvent(updated)]);
    return { value: updated };
  });
  return unwrap(outcome);
}

/**
 * Settles an accepted negotiation, in one transaction: the receipt with its committee (seeded,
 * trust-weighted), the price paid out of the intent's escrow (split 70/10/10/10) with the rest of
 * the escrow released to the client, and the negotiation and intent closed. An intent settles once:
 * a second accepted negotiation of the same intent, or an expired intent, is 409.
 *
 * Short transaction (issue 35): the committee is drawn before it (the candidates are read, not
 * locked, as they were inside it: the parties of a negotiation never change); inside, after the
 * negotiation and intent locks, one statement writes the receipt, the negotiation and the intent,
 * and one more moves the money and appends the events, so the ledger rows it touches are locked
 * by its last statement and held only until the COMMIT.
 */
export async function settle(
  ctx: AppContext,
  did: string,
  id: string,
  body: SettleInput,
): Promise<ReceiptRecord> {
  const pre = await findNegotiation(ctx.db, id);
  if (!pre) throw AppError.notFound(`No negotiation ${id}`);
  partyOf(pre, did);
  const candidates = (
    await eligibleCandidates(
      ctx.db,
      ctx.settings.pou.minStakeAtomic,
      [pre.agent_did, pre.client_did],
      new Date(Date.now() + ctx.settings.pou.receiptTtlHours * 3_600_000),
    )
  ).map((c) => ({
    did: c.did,
    weight: weightFromTrust(c.trust_score),
    owner: c.owner_address,
  }));
  const seed = randomBytes(32).toString('hex');
  const committee = selectCommittee(candidates, ctx.settings.pou.committeeSize, seed);
  const outcome = await withTransaction(ctx.db, async (tx): Promise<Outcome<ReceiptRecord>> => {
    const locked = await lockForAction(tx, id, did, 'settle');
    if (locked.refusal) return { refusal: locked.refusal };
    const { n } = locked;
    const intent = (await findIntent(tx, n.intent_id, true))!;
    requireLiveIntent(intent);
    const written = await settleNegotiationRows<ReceiptRow>(
      tx,
      n.id,
      intent.id,
      receiptInsertSql({
        negotiation_id: n.id,
        intent_id: n.intent_id,
        client_did: n.client_did,
        agent_did: n.agent_did,
        price_atomic: n.price_atomic,
        budget_atomic: intent.budget_atomic,
        sla_ms: intent.sla_ms,
        latency_ms: body.metrics?.latency_ms ?? null,
        outputs_ref: body.outputs_ref ?? null,
        committee: committee.map((c) => c.did),
        committee_weights: committee.map((c) => c.weight),
        k: effectiveQuorum(ctx.settings.pou.quorum, committee.length),
        m: committee.length,
        selection_seed: seed,
        committee_shortfall: committee.length === 0,
      }),
    );
    const receipt = toReceipt(written.receipt);
    await applyTransfersWithEvents(
      tx,
      settlementTransfers({
        taskId: receipt.task_id,
        intentId: intent.id,
        clientDid: n.client_did,
        agentDid: n.agent_did,
        price: BigInt(n.price_atomic),
        escrowed: intent.escrowed ? BigInt(intent.budget_atomic) : null,
      }),
      [
        negotiationEvent(written.negotiation),
        {
          type: 'receipt.created',
          recipients: [n.client_did, n.agent_did, ...receipt.committee],
          payload: { receipt },
        },
      ],
    );
    return { value: receipt };
  });
  const receipt = unwrap(outcome);
  await invalidateAgentsByDid(ctx, [receipt.agent_did]);
  return receipt;
}

/**
 * The client withdraws its open intent: its escrow goes back to its available balance. Refused
 * (409) while a negotiation of it is accepted and not expired, since that provider may be working.
 */
export async function cancelIntent(ctx: AppContext, did: string, id: string): Promise<IntentRecord> {
  return withTransaction(ctx.db, async (tx) => {
    const intent = await findIntent(tx, id, true);
    if (!intent) throw AppError.notFound(`No intent ${id}`);
    if (intent.client_did !== did) throw AppError.forbidden('Only the client of this intent may cancel it');
    if (intent.status !== 'open') throw AppError.conflict(`The intent is ${intent.status}`, 'INVALID_STATE');
    if (await hasLiveAcceptedNegotiation(tx, id))
      throw AppError.conflict(
        'A negotiation of this intent is accepted; it may still settle',
        'INVALID_STATE',
      );
    return closeIntent(tx, intent, 'cancelled');
  });
}

/** Marks an open intent cancelled or expired and releases its escrow (once: the release id is the intent's). */
async function closeIntent(tx: Queryable, intent: IntentRecord, status: 'cancelled' | 'expired') {
  const closed = await setIntentStatus(tx, intent.id, status);
  if (intent.escrowed)
    await applyTransfers(tx, [releaseTransfer(intent.id, intent.client_did, BigInt(intent.budget_atomic))]);
  await appendEvents(tx, [
    { type: `intent.${status}`, recipients: [intent.client_did], payload: { intent: closed } },
  ]);
  return closed;
}

/**
 * Expires open intents past their expiry and releases their escrow, in batches of `batch`, each
 * batch one transaction; stops when none is left, at `deadline` (ms since the epoch), or when
 * `signal` aborts. Run by the finalizer job.
 */
export async function expireIntents(
  ctx: AppContext,
  signal: AbortSignal,
  batch: number,
  deadline = Number.POSITIVE_INFINITY,
): Promise<{ intents_expired: number }> {
  let expired = 0;
  while (!signal.aborted && Date.now() < deadline) {
    const n = await withTransaction(ctx.db, async (tx) => {
      const due = await lockExpiredIntents(tx, batch);
      for (const intent of due) await closeIntent(tx, intent, 'expired');
      return due.length;
    });
    expired += n;
    if (n < batch) break;
  }
  return { intents_expired: expired };
}

export async function getIntent(ctx: AppContext, did: string, id: string): Promise<IntentRecord> {
  const intent = await findIntent(ctx.db, id);
  if (!intent) throw AppError.notFound(`No intent ${id}`);
  if (intent.client_did !== did) throw AppError.forbidden('Only the client of this intent may read it');
  return intent;
}

export async function getNegotiation(ctx: AppContext, did: string, id: string) {
  const n = await findNegotiation(ctx.db, id);
  if (!n) throw AppError.notFound(`No negotiation ${id}`);
  partyOf(n, did);
  return n;
}
