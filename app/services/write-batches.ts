import type { AppContext } from '../context.js';
import { GroupCommit, type GroupCommitOptions } from '../data/group-commit.js';

type Writes<I, O> = Pick<GroupCommitOptions<I, O>, 'write'>;

/**
 * A group commit of one operation (data/group-commit.ts) for each context, made on first use with
 * the context's batch bounds, its batches counted in `ainp_write_batch_size{op}` and its queue in
 * `ainp_write_batch_queued{op}`. Per context, since tests run several brokers in one process.
 */
export function groupCommitPerContext<I, O>(
  op: string,
  writes: (ctx: AppContext) => Writes<I, O>,
): (ctx: AppContext) => GroupCommit<I, O> {
  const batchers = new WeakMap<AppContext, GroupCommit<I, O>>();
  return (ctx) => {
    let batcher = batchers.get(ctx);
    if (!batcher) {
      batcher = new GroupCommit({
        ...ctx.settings.writeBatches,
        onBatch: (n) => ctx.metrics.writeBatchSize.observe({ op }, n),
        onQueued: (n) => ctx.metrics.writeBatchQueued.set({ op }, n),
        ...writes(ctx),
      });
      batchers.set(ctx, batcher);
    }
    return batcher;
  };
}
