import type { AppContext } from '../context.js';
import {
  carriedInto,
  claimWindow,
  nextUnpaidWindow,
  rewardCandidates,
} from '../data/credit-window-repository.js';
import { withTransaction } from '../data/db.js';
import { appendEvents } from '../data/event-repository.js';
import { applyTransfers } from '../data/ledger-repository.js';
import { available, type Transfer } from '../domain/ledger.js';
import { distributeRewards, scoreWeight } from '../domain/rewards.js';
import type { JobCounts, JobDefinition } from './job.js';

const HOUR = 3_600_000;
const MAX_WINDOWS_PER_RUN = 168;

/**
 * Pays every complete hour window not paid yet (from the one after the last paid, or the last
 * complete hour on a first run). Each window is one transaction: its row in credit_windows (the
 * claim: a window pays exactly once, whoever runs and however often), the emission (treasury →
 * pool, REWARD_POOL_ATOMIC) and one transfer pool → available per payee; what is not paid out stays
 * in the pool and is carried into the next window. A crash rolls the window back whole; the next
 * run pays it.
 */
export async function distributeCredits(
  ctx: AppContext,
  signal: AbortSignal,
  now = new Date(),
): Promise<JobCounts> {
  const lastComplete = new Date(Math.floor(now.getTime() / HOUR) * HOUR - HOUR);
  let start = (await nextUnpaidWindow(ctx.db)) ?? lastComplete;
  const counts: JobCounts = { windows_paid: 0, windows_skipped: 0, payouts: 0 };
  for (let i = 0; i < MAX_WINDOWS_PER_RUN && start <= lastComplete && !signal.aborted; i++) {
    const windowStart = start;
    const paid = await withTransaction(ctx.db, async (tx) => {
      const carriedIn = await carriedInto(tx, windowStart);
      const pool = ctx.settings.rewards.poolAtomic;
      const candidates = await rewardCandidates(tx, ctx.settings.rewards.minUsefulness);
      const { shares, carried } = distributeRewards(
        pool + carriedIn,
        candidates.map((c) => ({ did: c.did, weight: scoreWeight(c.score) })),
      );
      const distributed = shares.reduce((s, x) => s + x.amount, 0n);
      const claimed = await claimWindow(tx, {
        start: windowStart,
        pool,
        carriedIn,
        distributed,
        carriedOut: carried,
        recipients: shares.length,
      });
      if (!claimed) return undefined;
      const window = windowStart.toISOString();
      const emission: Transfer = {
        id: `emission:${window}`,
        debit: 'treasury',
        credit: 'pool',
        amount: pool,
        kind: 'emission',
        reference: window,
      };
      await applyTransfers(tx, [
        emission,
        ...shares.map((s): Transfer => ({
          id: `reward:${window}:${s.did}`,
          debit: 'pool',
          credit: available(s.did),
          amount: s.amount,
          kind: 'reward',
          reference: window,
        })),
      ]);
      await appendEvents(
        tx,
        shares.map((s) => ({
          type: 'credits.distributed',
          recipients: [s.did],
          payload: {
            did: s.did,
            amount_atomic: s.amount.toString(),
            window_start: windowStart.toISOString(),
          },
        })),
      );
      return { payouts: shares.length, distributed };
    });
    if (paid) {
      counts.windows_paid! += 1;
      counts.payouts! += paid.payouts;
      ctx.metrics.creditsDistributed.inc(Number(paid.distributed));
    } else {
      counts.windows_skipped! += 1;
    }
    start = new Date(windowStart.getTime() + HOUR);
  }
  return counts;
}

export const creditsJob: JobDefinition = {
  name: 'credits',
  schedule: (env) => ({ cron: env.CREDITS_CRON, enabled: env.CREDITS_ENABLED }),
  run: (ctx, signal) => distributeCredits(ctx, signal),
};
