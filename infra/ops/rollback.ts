/**
 * `npm run rollback -- --stack prod [--to VERSION] [--dry-run]`: reads the stack's history, picks
 * the update to return to (the given version, else the last good one), restores that update's
 * plain config (the image digest and every value the chart got from it) and runs `up`.
 */
import { flags } from './args.js';
import {
  LAST_GOOD_TAG,
  restorePlan,
  rollbackTarget,
  type HistoryEntry,
  type RestorePlan,
} from './history.js';
import { print, selectStack } from './pulumi-stack.js';

const USAGE = 'npm run rollback -- --stack NAME [--to VERSION] [--dry-run]';

/** The part of an Automation API `Stack` rollback uses (tests pass an in-memory one). */
export type RollbackStack = {
  name: string;
  history(): Promise<unknown[]>;
  getTag(key: string): Promise<string>;
  getAllConfig(): Promise<Record<string, { value: string; secret?: boolean }>>;
  setConfig(key: string, value: { value: string }): Promise<void>;
  removeConfig(key: string): Promise<void>;
  up(opts: { onOutput?: (out: string) => void; message?: string }): Promise<unknown>;
};

export async function rollback(
  stack: RollbackStack,
  opts: { to?: number; dryRun?: boolean } = {},
): Promise<RestorePlan> {
  const history = (await stack.history()) as HistoryEntry[];
  const target = rollbackTarget(history, {
    to: opts.to,
    lastGoodTag: await stack.getTag(LAST_GOOD_TAG).catch(() => undefined),
  });
  if (!target.ok) throw new Error(`cannot roll back ${stack.name}: ${target.reason}`);
  const plan = restorePlan(target.entry, await stack.getAllConfig());
  console.log(
    `rollback ${stack.name} to version ${plan.version} (image ${plan.imageDigest ?? 'built at that update'}):\n` +
      Object.entries(plan.set)
        .map(([k, v]) => `  set ${k} = ${v}`)
        .concat(
          plan.remove.map((k) => `  remove ${k}`),
          plan.secretsKept.map((k) => `  keep secret ${k}`),
        )
        .join('\n'),
  );
  if (opts.dryRun) return plan;
  for (const [k, v] of Object.entries(plan.set)) await stack.setConfig(k, { value: v });
  for (const k of plan.remove) await stack.removeConfig(k);
  await stack.up({ onOutput: print, message: `rollback to version ${plan.version}` });
  return plan;
}

async function main() {
  const f = flags(
    { stack: { type: 'string' }, to: { type: 'string' }, 'dry-run': { type: 'boolean' } },
    USAGE,
  );
  if (!f.stack || (f.to !== undefined && !/^[0-9]+$/.test(f.to))) {
    process.stderr.write(`--stack is required and --to must be a version number\nusage: ${USAGE}\n`);
    process.exit(2);
  }
  try {
    await rollback(await selectStack(f.stack), { to: f.to ? Number(f.to) : undefined, dryRun: f['dry-run'] });
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) void main();
