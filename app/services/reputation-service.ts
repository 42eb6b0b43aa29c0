import type { AppContext } from '../context.js';
import { withTransaction } from '../data/db.js';
import {
  addStake,
  findReputation,
  lockReputations,
  neutralReputation,
  saveReputations,
  slashStake,
} from '../data/reputation-repository.js';
import { findActiveAgentByDid } from '../data/agent-repository.js';
import { slashReputation, trustScore } from '../domain/reputation.js';
import { AppError } from '../errors.js';
import { refreshRankBase } from '../data/discovery-repository.js';
import type { SlashInput, StakeInput } from '../schemas/pou.js';
import { requireRegisteredAgent } from './agents-service.js';

export async function getReputation(ctx: AppContext, did: string) {
  const rep = await findReputation(ctx.db, did);
  if (rep) return rep;
  if (!(await findActiveAgentByDid(ctx.db, did))) throw AppError.notFound(`No reputation for ${did}`);
  return neutralReputation(did);
}

export async function stake(ctx: AppContext, did: string, body: StakeInput) {
  await requireRegisteredAgent(ctx, did, 'a staker');
  return addStake(ctx.db, did, body.amount_atomic, body.lock_seconds);
}

/** Reduces the locked stake (never below zero) and multiplies every dimension by 0.9. */
export async function slash(ctx: AppContext, body: SlashInput) {
  return withTransaction(ctx.db, async (tx) => {
    const result = await slashStake(tx, body.did, body.amount_atomic, body.reason);
    const reps = await lockReputations(tx, [body.did]);
    const rep = reps.get(body.did)!;
    const next = slashReputation(rep);
    await saveReputations(tx, [{ ...rep, ...next, trust_score: trustScore(next) }]);
    await refreshRankBase(tx, ctx.settings.discovery, { dids: [body.did] });
    ctx.logger.warn({ ...result, reason: body.reason }, 'agent slashed');
    return { ...result, reputation: { ...next, trust_score: trustScore(next) } };
  });
}
