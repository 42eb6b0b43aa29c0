import { afterStep, type StepName } from './history.js';

/**
 * The promotion loop, apart from what each step does: run the steps in order, stop with prod
 * untouched on an early failure, roll prod back on a late one, mark prod good at the end. The
 * steps and hooks are passed in, so tests drive it with stand-ins; promote.ts passes the real ones.
 */
export type Outcome = { result: 'done' | 'stopped-prod-untouched' | 'rolled-back'; failedStep?: StepName };

export async function runPromotion(
  steps: [StepName, () => Promise<boolean>][],
  hooks: { rollbackProd(): Promise<void>; markProdGood(): Promise<void>; log(line: string): void },
): Promise<Outcome> {
  for (const [name, step] of steps) {
    hooks.log(`== ${name}`);
    const ok = await step().catch((err: Error) => {
      hooks.log(`${name}: ${err.message}`);
      return false;
    });
    const next = afterStep(name, ok);
    if (next === 'continue') continue;
    if (next === 'done') {
      await hooks.markProdGood();
      return { result: 'done' };
    }
    if (next === 'stop-prod-untouched') {
      hooks.log(`promote: ${name} failed; prod was not changed`);
      return { result: 'stopped-prod-untouched', failedStep: name };
    }
    hooks.log(`promote: ${name} failed after prod changed; rolling prod back`);
    await hooks.rollbackProd();
    return { result: 'rolled-back', failedStep: name };
  }
  throw new Error('promotion steps ended before prod-smoke');
}
