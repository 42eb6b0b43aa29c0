import { afterStep, type StepName } from './history.js';

/**
 * The promotion loop, apart from what each step does: run the steps in order, stop with prod
 * untouched on an early failure, roll prod back on a late one, mark prod good at the end. The
 * steps and hooks are passed in, so tests drive it with stand-ins; promote.ts passes the real ones.
 */
export type Outcome = {
  result: 'done' | 'stopped-prod-untouched' | 'stopped-concurrent-update' | 'rolled-back' | 'rollback-failed';
  failedStep?: StepName;
};

/**
 * The engine refused the update because the stack is locked: another update is running, or an
 * interrupted one left its lock (the Automation API's ConcurrentUpdateError). Nothing was changed
 * by this run, and a rollback would be refused the same way.
 */
export const isConcurrentUpdate = (err: unknown) =>
  (err as Error | undefined)?.name === 'ConcurrentUpdateError';

export const CONCURRENT_HELP =
  'the stack is locked by another update (running, or interrupted and left pending); this promotion changed ' +
  'nothing there and does not roll back: see docs/RUNBOOK.md, "Interrupted and concurrent updates"';

/**
 * A step fails by returning false or by throwing; what it throws says why (a failing health check,
 * the gate's reasons), and is the end of the line that says the step failed. `explain` turns an
 * error into that one line (promote.ts: errors.ts, so a failed `up` is not Pulumi's whole log again).
 */
export async function runPromotion(
  steps: [StepName, () => Promise<boolean>][],
  hooks: {
    rollbackProd(): Promise<void>;
    markProdGood(): Promise<void>;
    log(line: string): void;
    explain?(err: unknown, step: StepName): string;
  },
): Promise<Outcome> {
  const explain = (err: unknown, step: StepName) =>
    isConcurrentUpdate(err) ? CONCURRENT_HELP : (hooks.explain?.(err, step) ?? (err as Error).message);
  for (const [name, step] of steps) {
    hooks.log(`== ${name}`);
    let concurrent = false;
    let why = '';
    const ok = await step().catch((err: Error) => {
      concurrent = isConcurrentUpdate(err);
      why = explain(err, name);
      return false;
    });
    if (concurrent) {
      hooks.log(`${name}: ${why}`);
      return { result: 'stopped-concurrent-update', failedStep: name };
    }
    const next = afterStep(name, ok);
    if (next === 'continue') continue;
    if (next === 'done') {
      await hooks.markProdGood();
      return { result: 'done' };
    }
    const failed = `promote: ${name} failed${why ? ` (${why})` : ''}`;
    if (next === 'stop-prod-untouched') {
      hooks.log(`${failed}; prod was not changed`);
      return { result: 'stopped-prod-untouched', failedStep: name };
    }
    hooks.log(`${failed} after prod changed; rolling prod back`);
    try {
      await hooks.rollbackProd();
    } catch (err) {
      const why = explain(err, name);
      hooks.log(
        `promote: rolling prod back failed: ${why}; roll back by hand (npm run rollback -- --stack prod)`,
      );
      return { result: 'rollback-failed', failedStep: name };
    }
    return { result: 'rolled-back', failedStep: name };
  }
  throw new Error('promotion steps ended before prod-smoke');
}
