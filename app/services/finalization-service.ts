import type pg from 'pg';
import type { AppContext } from '../context.js';
import {
  attestationsFor,
  closeReceipts,
  lockReceiptForFinalize,
  type ReceiptRow,
} from '../data/receipt-repository.js';
import { refreshRankBase } from '../data/discovery-repository.js';
import { appendEvents } from '../data/event-repository.js';
import { closeAndScore, lockReputations, saveReputations } from '../data/reputation-repository.js';
import { usefulnessScores } from '../data/usefulness-repository.js';
import type { Queryable } from '../data/sql.js';
import { evaluateQuorum, type QuorumResult } from '../domain/quorum.js';
import { applyEwma, earnsReputation, observe, trustScore } from '../domain/reputation.js';

/**
 * Settles the fate of receipts the caller has locked (FOR UPDATE), inside the caller's
 * transaction: the one quorum rule decides, receipts leaving `pending` are closed, and the
 * provider's reputation moves exactly once per audited receipt (only a receipt this transaction
 * moved out of pending updates it; see earnsReputation for the unaudited ones). Used by POST /receipts/{id}/finalize and by the finalizer job.
 */
export async function finalizeLocked(
  ctx: AppContext,
  tx: Queryable,
  receipts: ReceiptRow[],
  now = new Date(),
): Promise<Map<string, QuorumResult>> {
  const attestations = await attestationsFor(
    tx,
    receipts.map((r) => r.task_id),
  );
  const results = new Map<string, QuorumResult>();
  for (const r of receipts) {
    results.set(
      r.task_id,
      evaluateQuorum({
        committee: r.committee,
        k: r.k,
        clientDid: r.client_did,
        attestations: attestations.get(r.task_id)!,
        createdAt: r.created_at,
        now,
        ttlHours: ctx.settings.pou.receiptTtlHours,
      }),
    );
  }
  const leaving = receipts.filter((r) => results.get(r.task_id)!.status !== 'pending');
  const moved = await closeReceipts(
    tx,
    leaving.map((r) => ({ task_id: r.task_id, status: results.get(r.task_id)!.status })),
  );
  const updated = leaving.filter((r) => moved.has(r.task_id));
  await appendEvents(
    tx,
    updated.map((r) => {
      const status = results.get(r.task_id)!.status;
      return {
        type: `receipt.${status}`,
        recipients: [r.client_did, r.agent_did, ...r.committee],
        payload: { task_id: r.task_id, status, agent_did: r.agent_did, client_did: r.client_did },
      };
    }),
  );
  // Only audited work moves reputation; an unaudited receipt closes with its events and nothing else.
  const audited = updated.filter(earnsReputation);
  if (audited.length) {
    const dids = audited.map((r) => r.agent_did);
    const reps = await lockReputations(tx, dids);
    const useful = await usefulnessScores(tx, dids);
    for (const r of audited) {
      const status = results.get(r.task_id)!.status as Exclude<QuorumResult['status'], 'pending'>;
      const rep = reps.get(r.agent_did)!;
      const next = applyEwma(
        rep,
        observe({
          status,
          attestations: attestations.get(r.task_id)!,
          latencyMs: r.latency_ms,
          slaMs: r.sla_ms,
          price: BigInt(r.price_atomic),
          budget: BigInt(r.budget_atomic),
          usefulness: useful.get(r.agent_did) ?? null,
        }),
        ctx.settings.pou.reputationAlpha,
      );
      reps.set(r.agent_did, {
        ...rep,
        ...next,
        trust_score: trustScore(next),
        tasks_finalized: rep.tasks_finalized + (status === 'finalized' ? 1 : 0),
      });
    }
    await saveReputations(tx, [...reps.values()]);
    await refreshRankBase(tx, ctx.settings.discovery, { dids });
  }
  return results;
}

/** Counts moved receipts by result for metrics, after the transaction committed. */
export function countResults(results: Map<string, QuorumResult>): Record<string, number> {
  const counts: Record<string, number> = { finalized: 0, failed: 0, disputed: 0, expired: 0, pending: 0 };
  for (const r of results.values()) counts[r.status] = (counts[r.status] ?? 0) + 1;
  return counts;
}

/**
 * The API's finalize of one receipt, in a transaction of four round trips (issue 35): BEGIN, the
 * receipt locked with its attestations (lockReceiptForFinalize), then, when the quorum rule moves
 * it, one statement (closeAndScore) that closes it, appends its event, moves the provider's
 * reputation by the same EWMA as finalizeLocked and refreshes its rank base, then COMMIT. The
 * provider's reputation row, which every finalization of that provider updates, is thus locked by
 * the last statement only, sent with the COMMIT (a receipt that moves ends the transaction here).
 * Returns undefined when there is no such receipt.
 */
export async function finalizeOne(
  ctx: AppContext,
  tx: pg.PoolClient,
  taskId: string,
  now = new Date(),
): Promise<{ receipt: ReceiptRow; result: QuorumResult; moved: boolean } | undefined> {
  const found = await lockReceiptForFinalize(tx, taskId);
  if (!found) return undefined;
  const { receipt: r, attestations } = found;
  if (r.status !== 'pending')
    return { receipt: r, result: { status: r.status, needed: r.k, have: 0 }, moved: false };
  const result = evaluateQuorum({
    committee: r.committee,
    k: r.k,
    clientDid: r.client_did,
    attestations,
    createdAt: r.created_at,
    now,
    ttlHours: ctx.settings.pou.receiptTtlHours,
  });
  if (result.status === 'pending') return { receipt: r, result, moved: false };
  const status = result.status;
  const observation = earnsReputation(r)
    ? observe({
        status,
        attestations,
        latencyMs: r.latency_ms,
        slaMs: r.sla_ms,
        price: BigInt(r.price_atomic),
        budget: BigInt(r.budget_atomic),
        usefulness: found.usefulness,
      })
    : undefined;
  const moved = await closeAndScore(tx, {
    taskId: r.task_id,
    status,
    agentDid: r.agent_did,
    event: {
      type: `receipt.${status}`,
      recipients: [r.client_did, r.agent_did, ...r.committee],
      payload: { task_id: r.task_id, status, agent_did: r.agent_did, client_did: r.client_did },
    },
    observation,
    alpha: ctx.settings.pou.reputationAlpha,
    weights: ctx.settings.discovery,
  });
  return { receipt: r, result, moved };
}
