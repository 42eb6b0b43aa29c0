/**
 * `npm run rollback -- --stack prod [--to VERSION] [--dry-run]`: reads the stack's history, picks
 * the update to return to (the given version, else the last good one), restores that update's
 * plain config (the image digest and every value the chart got from it) and runs `up`.
 */
import type { Stack } from '@pulumi/pulumi/automation/index.js';
import { flags } from './args.js';
import {
  LAST_GOOD_TAG,
  restorePlan,
  rollbackTarget,
  type HistoryEntry,
  type RestorePlan,
} from './history.js';
import { getTag, print, selectStack } from './pulumi-stack.js';

const USAGE = 'npm run rollback -- --stack NAME [--to VERSION] [--dry-run]';

export async function rollback(
  stack: Stack,
  opts: { to?: number; dryRun?: boolean } = {},
): Promise<RestorePlan> {
  const history = (await stack.history()) as unknown as HistoryEntry[];
  const target = rollbackTarget(history, { to: opts.to, lastGoodTag: await getTag(stack, LAST_GOOD_TAG) });
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
