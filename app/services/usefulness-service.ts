import type { AppContext } from '../context.js';
import { withTransaction } from '../data/db.js';
import {
  insertProof,
  lockAgentProofs,
  recentProofCounts,
  usefulnessOf,
} from '../data/usefulness-repository.js';
import { findReceipt } from '../data/receipt-repository.js';
import { earnsReputation } from '../domain/reputation.js';
import { isSuspiciousBurst, proofScore } from '../domain/usefulness.js';
import { AppError } from '../errors.js';
import type { ProofInput } from '../schemas/pou.js';
import { requireRegisteredAgent } from './agents-service.js';

/**
 * Records a usefulness proof of the signing agent. It must name a finalized, audited receipt whose provider
 * is the prover, one proof per receipt (SPEC section 10). Anti-fraud: a trace_id counts once (409),
 * at most MAX_PROOFS_PER_HOUR per agent (429), and a burst of near-perfect scores is flagged:
 * stored, but left out of the average.
 */
export async function submitProof(ctx: AppContext, did: string, body: ProofInput) {
  await requireRegisteredAgent(ctx, did, 'a usefulness prover');
  const receipt = await findReceipt(ctx.db, body.task_id);
  if (!receipt) throw AppError.notFound(`No receipt ${body.task_id}`);
  if (receipt.agent_did !== did)
    throw AppError.forbidden('A usefulness proof must name a receipt of a task the prover provided');
  if (receipt.status !== 'finalized')
    throw AppError.conflict(
      `Receipt ${body.task_id} is ${receipt.status}, not finalized`,
      'RECEIPT_NOT_FINALIZED',
    );
  if (!earnsReputation(receipt))
    throw AppError.conflict(
      `Receipt ${body.task_id} was not audited by an independent committee (${
        receipt.committee_shortfall ? 'committee_shortfall' : 'self_dealt'
      }): it cannot back a usefulness proof`,
      'UNAUDITED_RECEIPT',
    );
  const score = Math.round(proofScore(body.metrics) * 1000) / 1000;
  const p = ctx.settings.proofs;
  const proof = await withTransaction(ctx.db, async (tx) => {
    await lockAgentProofs(tx, did);
    const recent = await recentProofCounts(tx, did, p.nearPerfectScore, p.burstWindowMinutes);
    if (recent.last_hour >= p.maxPerHour) {
      throw new AppError(
        429,
        'RATE_LIMIT_EXCEEDED',
        `At most ${p.maxPerHour} usefulness proofs per agent per hour`,
      );
    }
    const flagged = isSuspiciousBurst(score, recent.burst, p.nearPerfectScore, p.burstMax);
    const inserted = await insertProof(tx, {
      did,
      trace_id: body.trace_id,
      task_id: body.task_id,
      ...body.metrics,
      score,
      flagged,
      flag_reason: flagged
        ? `more than ${p.burstMax} near-perfect proofs within ${p.burstWindowMinutes} minutes`
        : null,
    });
    if (inserted === 'trace_id') throw AppError.conflict(`trace_id ${body.trace_id} was already used`);
    if (inserted === 'task_id')
      throw AppError.conflict(`Receipt ${body.task_id} already has a usefulness proof`, 'DUPLICATE_PROOF');
    return {
      ...inserted,
      agent_did: did,
      trace_id: body.trace_id,
      task_id: body.task_id,
      score,
      flagged,
    };
  });
  ctx.metrics.usefulnessProofs.inc({ result: proof.flagged ? 'flagged' : 'counted' });
  return proof;
}

export async function usefulness(ctx: AppContext, did: string) {
  const u = await usefulnessOf(ctx.db, did, ctx.settings.usefulnessWindowDays);
  return {
    did,
    // The aggregator's value (used by discovery and rewards), and the live window it comes from.
    usefulness: u.computed ?? 0,
    computed_at: u.computed_at ? u.computed_at.toISOString() : null,
    live_average: u.score === null ? null : Math.round(u.score * 1000) / 1000,
    proofs: u.proofs,
    flagged: u.flagged,
    window_days: ctx.settings.usefulnessWindowDays,
  };
}
