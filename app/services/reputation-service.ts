import type { AppContext } from '../context.js';
import { withTransaction } from '../data/db.js';
import { randomUUID } from 'node:crypto';
import { applyTransfers } from '../data/ledger-repository.js';
import {
  findReputation,
  insertSlash,
  lockReputations,
  lockStake,
  neutralReputation,
  recordStake,
  saveReputations,
} from '../data/reputation-repository.js';
import { available, stake as stakeAccount } from '../domain/ledger.js';
import { findActiveAgentByDid } from '../data/agent-repository.js';
import { slashReputation, trustScore } from '../domain/reputation.js';
import { AppError } from '../errors.js';
import { refreshRankBase } from '../data/discovery-repository.js';
import type { SlashInput, StakeInput, WithdrawInput } from '../schemas/pou.js';
import { requireRegisteredAgent } from './agents-service.js';

/** A DID's reputation, from this process's cache when it can answer (see LocalCache). */
export function getReputation(ctx: AppContext, did: string) {
  return ctx.localCache.get('rep', did, async () => {
    const rep = await findReputation(ctx.db, did);
    if (rep) return rep;
    if (!(await findActiveAgentByDid(ctx.db, did))) throw AppError.notFound(`No reputation for ${did}`);
    return neutralReputation(did);
  });
}

/**
 * Moves `amount_atomic` from the agent's available balance into its stake (409 INSUFFICIENT_FUNDS
 * when short) and locks the whole stake for at least `lock_seconds` from now.
 */
export async function stake(ctx: AppContext, did: string, body: StakeInput) {
  await requireRegisteredAgent(ctx, did, 'a staker');
  return withTransaction(ctx.db, async (tx) => {
    await lockStake(tx, did);
    await applyTransfers(tx, [
      {
        id: `stake:${randomUUID()}`,
        debit: available(did),
        credit: stakeAccount(did),
        amount: BigInt(body.amount_atomic),
        kind: 'stake',
        reference: did,
      },
    ]);
    return recordStake(tx, did, body.lock_seconds);
  });
}

/** Moves stake back to available once the lock has passed (409 STAKE_LOCKED before, INSUFFICIENT_FUNDS beyond the stake). */
export async function withdrawStake(ctx: AppContext, did: string, body: WithdrawInput) {
  return withTransaction(ctx.db, async (tx) => {
    const { unlock_at } = await lockStake(tx, did);
    if (unlock_at && unlock_at > new Date()) {
      throw new AppError(
        409,
        'STAKE_LOCKED',
        `The stake is locked until ${unlock_at.toISOString()}`,
        undefined,
        {
          unlock_at: unlock_at.toISOString(),
        },
      );
    }
    await applyTransfers(tx, [
      {
        id: `withdraw:${randomUUID()}`,
        debit: stakeAccount(did),
        credit: available(did),
        amount: BigInt(body.amount_atomic),
        kind: 'stake_withdrawal',
        reference: did,
      },
    ]);
    return recordStake(tx, did, null);
  });
}

/**
 * Moves up to `amount_atomic` of the agent's stake to the pool (never below zero) and multiplies
 * every reputation dimension by 0.9.
 */
export async function slash(ctx: AppContext, body: SlashInput) {
  return withTransaction(ctx.db, async (tx) => {
    await lockStake(tx, body.did);
    const { rows } = await tx.query<{ balance: string }>(
      `SELECT balance_atomic::text AS balance FROM ledger_lock($1::text[])`,
      [[stakeAccount(body.did)]],
    );
    const held = BigInt(rows[0]?.balance ?? '0');
    const requested = BigInt(body.amount_atomic);
    const applied = requested < held ? requested : held;
    const slashId = await insertSlash(tx, {
      did: body.did,
      amount: body.amount_atomic,
      applied: applied.toString(),
      reason: body.reason,
    });
    await applyTransfers(tx, [
      {
        id: `slash:${slashId}`,
        debit: stakeAccount(body.did),
        credit: 'pool',
        amount: applied,
        kind: 'slash',
        reference: slashId,
      },
    ]);
    const staked = await recordStake(tx, body.did, null);
    const reps = await lockReputations(tx, [body.did]);
    const rep = reps.get(body.did)!;
    const next = slashReputation(rep);
    await saveReputations(tx, [{ ...rep, ...next, trust_score: trustScore(next) }]);
    await refreshRankBase(tx, ctx.settings.discovery, { dids: [body.did] });
    const result = {
      did: body.did,
      requested_atomic: body.amount_atomic,
      applied_atomic: applied.toString(),
      locked_atomic: staked.locked_atomic,
    };
    ctx.logger.warn({ ...result, reason: body.reason }, 'agent slashed');
    return { ...result, reputation: { ...next, trust_score: trustScore(next) } };
  });
}
