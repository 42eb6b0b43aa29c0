import type { AppContext } from '../context.js';
import { withTransaction } from '../data/db.js';
import { claimPending } from '../data/receipt-repository.js';
import { invalidateAgentsByDid } from '../services/agents-service.js';
import { countResults, finalizeLocked } from '../services/finalization-service.js';
import { expireIntents } from '../services/negotiation-service.js';
import type { JobCounts, JobDefinition } from './job.js';

/**
 * Walks the pending receipts in (created_at, task_id) order, a batch per transaction, claimed
 * with FOR UPDATE SKIP LOCKED: two finalizers split the work, a killed one loses only its open
 * batch (rolled back whole, picked up by the next run). Stops claiming when the time budget is
 * spent or the run is asked to stop. Then, in what is left of the budget, expires the open intents
 * past their expiry and releases their escrow.
 */
export async function finalizePending(ctx: AppContext, signal: AbortSignal): Promise<JobCounts> {
  const deadline = Date.now() + ctx.env.POU_FINALIZER_BUDGET_MS;
  const totals: JobCounts = {
    claimed: 0,
    finalized: 0,
    failed: 0,
    disputed: 0,
    expired: 0,
    pending: 0,
    batches: 0,
  };
  let cursor: string | undefined;
  while (!signal.aborted && Date.now() < deadline) {
    const batch = await withTransaction(ctx.db, async (tx) => {
      const claimed = await claimPending(tx, cursor, ctx.env.POU_FINALIZER_BATCH);
      if (!claimed.length) return undefined;
      return { claimed, results: await finalizeLocked(ctx, tx, claimed) };
    });
    if (!batch) break;
    cursor = batch.claimed[batch.claimed.length - 1]!.task_id;
    const counts = countResults(batch.results);
    for (const [result, n] of Object.entries(counts)) {
      totals[result] = (totals[result] ?? 0) + n;
      if (result !== 'pending' && n) ctx.metrics.finalizations.inc({ result, path: 'job' }, n);
    }
    await invalidateAgentsByDid(
      ctx,
      batch.claimed.filter((r) => batch.results.get(r.task_id)!.status !== 'pending').map((r) => r.agent_did),
    );
    totals.claimed! += batch.claimed.length;
    totals.batches! += 1;
  }
  const intents = await expireIntents(ctx, signal, ctx.env.POU_FINALIZER_BATCH, deadline);
  return { ...totals, ...intents };
}

export const finalizerJob: JobDefinition = {
  name: 'finalizer',
  schedule: (env) => ({ cron: env.POU_FINALIZER_CRON, enabled: env.POU_FINALIZER_ENABLED }),
  run: finalizePending,
};
