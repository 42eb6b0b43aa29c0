/**
 * `npm run rollback -- --stack prod [--to VERSION|START-TIME] [--dry-run] [--force]`: reads the
 * stack's whole history, picks the update to return to (the given one, else the last good one),
 * and brings back what ran then: the program and chart of the commit that update recorded (at the
 * end of its message), checked out in a temporary git worktree, with that update's plain config
 * (the image digest and every value the chart got from it), then runs `up`. An update without a
 * clean recorded commit is refused unless --force, which restores its config with today's program
 * and chart.
 */
import { flags } from './args.js';
import { failureLine } from './errors.js';
import {
  LAST_GOOD_TAG,
  PROJECT,
  recordedSource,
  restorePlan,
  rollbackTarget,
  wholeHistory,
  withSource,
  type RestorePlan,
} from './history.js';
import { ROOT } from './k6.js';
import { policyPacks } from './policy-packs.js';
import { print, selectStack } from './pulumi-stack.js';
import { checkoutCommit, rollbackSource, sourceCommit } from './source.js';

const USAGE = 'npm run rollback -- --stack NAME [--to VERSION|START-TIME] [--dry-run] [--force]';

/** The part of an Automation API `Stack` rollback uses (tests pass an in-memory one). */
export type RollbackStack = {
  name: string;
  history(pageSize?: number, page?: number, showSecrets?: boolean): Promise<unknown[]>;
  getTag(key: string): Promise<string>;
  getAllConfig(): Promise<Record<string, { value: string; secret?: boolean }>>;
  setConfig(key: string, value: { value: string }): Promise<void>;
  removeConfig(key: string): Promise<void>;
  up(opts: { onOutput?: (out: string) => void; message?: string; policyPacks?: string[] }): Promise<unknown>;
};

export type RollbackOptions = {
  /** A version number as `pulumi stack history` lists it, or the update's start time. */
  to?: number | string;
  dryRun?: boolean;
  force?: boolean;
  /** The git work tree the recorded commit is checked out from (default: this repository). */
  root?: string;
  /** The same stack, running the program found under `dir` (the checked-out commit). */
  withProgramAt?: (dir: string) => Promise<RollbackStack>;
  /** Policy packs the `up` runs with (paths; see policy-packs.ts). */
  policyPacks?: () => Promise<string[]>;
};

export async function rollback(stack: RollbackStack, opts: RollbackOptions = {}): Promise<RestorePlan> {
  const history = await wholeHistory((size, page, secrets) => stack.history(size, page, secrets));
  const target = rollbackTarget(history, {
    to: opts.to,
    lastGoodTag: await stack.getTag(LAST_GOOD_TAG).catch(() => undefined),
  });
  if (!target.ok) throw new Error(`cannot roll back ${stack.name}: ${target.reason}`);
  const source = rollbackSource(recordedSource(target.entry), opts.force ?? false);
  if (!source.ok)
    throw new Error(`cannot roll back ${stack.name} to version ${target.entry.version}: ${source.reason}`);
  if (source.warning) console.warn(source.warning);
  const current = await stack.getAllConfig();
  const plan = restorePlan(target.entry, current);
  // Where older ops commands kept the commit (nothing writes it now): a value left in the stack file
  // names a commit whose program is not the one this update runs, so it goes; the update records
  // the commit that runs in its message (withSource below), under --force today's.
  const staleSource = current[`${PROJECT}:sourceCommit`]?.value || undefined;
  console.log(
    `rollback ${stack.name} to version ${plan.version} of ${plan.id} (image ${plan.imageDigest ?? 'built at that update'}, ` +
      `program and chart ${source.commit ? `of commit ${source.commit}` : 'of today'}):\n` +
      Object.entries(plan.set)
        .map(([k, v]) => `  set ${k} = ${v}`)
        .concat(
          plan.remove.map((k) => `  remove ${k}`),
          plan.secretsKept.map((k) => `  keep secret ${k}`),
          staleSource ? [`  remove ${PROJECT}:sourceCommit (obsolete, names ${staleSource})`] : [],
        )
        .join('\n'),
  );
  if (opts.dryRun) return plan;
  const root = opts.root ?? ROOT;
  const checkout =
    source.commit && opts.withProgramAt ? await checkoutCommit(root, source.commit) : undefined;
  try {
    const runner = checkout ? await opts.withProgramAt!(checkout.dir) : stack;
    for (const [k, v] of Object.entries(plan.set)) await runner.setConfig(k, { value: v });
    for (const k of plan.remove) await runner.removeConfig(k);
    if (staleSource) await runner.removeConfig(`${PROJECT}:sourceCommit`);
    // This update records what it runs too: the restored commit, or today's tree under --force.
    const ran = checkout ? { commit: source.commit!, dirty: [] } : await sourceCommit(root);
    const message = withSource(`rollback to version ${plan.version} of ${plan.id}`, ran);
    await runner.up({ onOutput: print, message, policyPacks: (await opts.policyPacks?.()) ?? [] });
  } finally {
    await checkout?.remove();
  }
  return plan;
}

/** The options every real rollback uses: the recorded commit's program, from this repository. */
export const realRollback = (name: string) => ({
  root: ROOT,
  withProgramAt: (dir: string) => selectStack(name, dir),
  policyPacks,
});

async function main() {
  const f = flags(
    {
      stack: { type: 'string' },
      to: { type: 'string' },
      'dry-run': { type: 'boolean' },
      force: { type: 'boolean' },
    },
    USAGE,
  );
  if (!f.stack || (f.to !== undefined && !/^([0-9]+|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)$/.test(f.to))) {
    process.stderr.write(
      `--stack is required and --to must be a version number or a start time (2026-01-31T12:00:00Z)\nusage: ${USAGE}\n`,
    );
    process.exit(2);
  }
  try {
    await rollback(await selectStack(f.stack), {
      to: f.to && /^[0-9]+$/.test(f.to) ? Number(f.to) : f.to,
      dryRun: f['dry-run'],
      force: f.force,
      ...realRollback(f.stack),
    });
  } catch (err) {
    console.error(failureLine(err, { command: 'rollback', stack: f.stack }));
    process.exit(1);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) void main();
