/**
 * `npm run promote`: `up` staging → health checks → gate (smoke, load) against staging → `up` prod
 * with staging's image digest → health checks → smoke against prod. A failure before prod changes
 * stops with prod untouched; a failure after rolls prod back to its last good update (its program,
 * chart and config). Every `up` records its source commit. On success the prod update is tagged as
 * the last good one, and the promoted digest is committed in Pulumi.prod.yaml: prod's config is
 * invalid without one, so a fresh clone deploys exactly what was promoted and never builds.
 * Decisions: history.ts; this file only calls.
 */
import path from 'node:path';
import { ENV_SECRET } from '../components/broker.js';
import { configSchema } from '../config.js';
import { flags } from './args.js';
import { failureLine } from './errors.js';
import { gate } from './gate.js';
import { gateVerdict } from './gate-verdict.js';
import { healthOf } from './health.js';
import { formatReport } from './kube-health.js';
import type { HealthTarget } from './kubectl.js';
import { LAST_GOOD_TAG, newestUpdateId, promotionDigest, type StepName } from './history.js';
import { runPromotion } from './promotion.js';
import { ROOT, runK6 } from './k6.js';
import {
  historyOf,
  print,
  selectStack,
  stackOutputs,
  upRecorded,
  workDir,
  type StackOutputs,
} from './pulumi-stack.js';
import { runGateJob } from './gate-job.js';
import type { Stack } from '@pulumi/pulumi/automation/index.js';
import { realRollback, rollback } from './rollback.js';
import { RegistryError, tagDigest, type Credentials } from './registry.js';
import { commitStackFile } from './source.js';

const USAGE = 'npm run promote [-- --load-duration 50s] [--ready-url URL] [--prod-ready-url URL]';

/**
 * A health step: the checks of `npm run health`, printed; a failing one is thrown, so the line that
 * says the step failed names it.
 */
export async function healthStep(target: HealthTarget, log: (line: string) => void = console.log) {
  const r = await healthOf(target);
  log(formatReport(r.checks));
  if (r.exitCode !== 0)
    throw new Error(
      r.checks
        .filter((c) => c.level === 'fail')
        .map((c) => `${c.name}: ${c.detail}`)
        .join('; '),
    );
  return true;
}

/**
 * A stack's `ainp:` setting as written; when the stack sets none, the program's default for it
 * when that default is a string (config.ts), else '' (a secret such as registryPassword has none).
 */
async function setting(stack: Stack, key: string): Promise<string> {
  const set = await stack.getConfig(`ainp:${key}`).catch(() => undefined);
  if (set) return set.value;
  const shape = configSchema.shape as Record<
    string,
    { safeParse(v: undefined): { success: boolean; data?: unknown } } | undefined
  >;
  const parsed = shape[key]?.safeParse(undefined);
  return parsed?.success && typeof parsed.data === 'string' ? parsed.data : '';
}

/**
 * Where a stack has a `gateImage` (k6 pinned by digest), its gate runs as Jobs beside its broker
 * (gate-job.ts), against its Service, where the broker's pods run (its nodeSelector and
 * tolerations); otherwise undefined: k6 runs here against the stack's URL.
 */
export async function inClusterGate(stack: Stack, o: StackOutputs) {
  const image = await setting(stack, 'gateImage');
  if (!image) return undefined;
  return {
    context: o.kubeContext,
    namespace: o.namespace,
    release: o.release,
    secret: ENV_SECRET,
    image,
    scheduling: {
      nodeSelector: configSchema.shape.nodeSelector.parse(
        (await setting(stack, 'nodeSelector')) || undefined,
      ),
      tolerations: configSchema.shape.tolerations.parse((await setting(stack, 'tolerations')) || undefined),
    },
  };
}

async function main() {
  const f = flags(
    {
      'load-duration': { type: 'string' },
      'ready-url': { type: 'string' },
      'prod-ready-url': { type: 'string' },
    },
    USAGE,
  );
  const stacks = await Promise.all([selectStack('staging'), selectStack('prod')]).catch((err: unknown) => {
    console.error(failureLine(err, { command: 'promote', stack: 'staging, prod' }));
    return process.exit(1);
  });
  const [staging, prod] = stacks;
  // --ready-url: /ready of staging asked there, not through a port-forward (as `npm run health`).
  const readyUrls = new Map([
    [staging, f['ready-url']],
    [prod, f['prod-ready-url']],
  ]);
  const health = async (stack: typeof staging) => {
    const o = await stackOutputs(stack);
    return healthStep({
      context: o.kubeContext,
      namespace: o.namespace,
      release: o.release,
      migrationJob: o.migrationJob,
      readyUrl: readyUrls.get(stack),
    });
  };
  let promoted = '';
  const steps: [StepName, () => Promise<boolean>][] = [
    [
      'staging-up',
      async () =>
        (await upRecorded(staging, { onOutput: print, message: 'promote: staging' })).summary.result ===
        'succeeded',
    ],
    ['staging-health', () => health(staging)],
    [
      'staging-gate',
      async () => {
        const o = await stackOutputs(staging);
        const inCluster = await inClusterGate(staging, o);
        if (!inCluster)
          console.warn('staging-gate: no gateImage in the stack: k6 runs here, against the public URL');
        const r = await gate({
          target: o.url,
          adminToken: o.adminToken,
          pouM: String(o.pou.m),
          duration: f['load-duration'],
          ...(inCluster ? { inCluster } : {}),
        });
        console.log(`staging-gate summaries: ${r.summaryDir}`);
        for (const run of r.runs)
          if (run.report) console.log(`staging-gate ${run.script} report: ${run.report}`);
        if (!r.pass) throw new Error(r.reasons.join('; ') || 'the gate did not pass');
        return true;
      },
    ],
    [
      'prod-up',
      async () => {
        const digest = promotionDigest(await staging.outputs());
        console.log(`promoting ${digest} to prod`);
        await prod.setConfig('ainp:imageDigest', { value: digest });
        promoted = digest;
        return (
          (await upRecorded(prod, { onOutput: print, message: `promote ${digest}` })).summary.result ===
          'succeeded'
        );
      },
    ],
    ['prod-health', () => health(prod)],
    [
      'prod-smoke',
      async () => {
        const o = await stackOutputs(prod);
        // Prod's smoke moves no money (issue 34, item 12): the paid flow was proven on staging, with
        // this digest, by the gate; here every route answers and prod's books stay as they were.
        // Where prod has a gateImage, it runs beside prod's broker as staging's gate did.
        const env = { POU_M: String(o.pou.m), MONEY: 'none' };
        const inCluster = await inClusterGate(prod, o);
        const run = inCluster
          ? await runGateJob({ ...inCluster, script: 'smoke', runId: Date.now().toString(36), env })
          : await runK6('smoke', { TARGET: o.url, ADMIN_TOKEN: o.adminToken, ...env });
        const verdict = gateVerdict([run]);
        if (!verdict.pass) throw new Error(verdict.reasons.join('; '));
        return true;
      },
    ],
  ];
  const outcome = await runPromotion(steps, {
    log: (line) => console.log(line),
    explain: (err, step) =>
      failureLine(err, { command: step, stack: step.startsWith('prod') ? 'prod' : 'staging' }),
    // Automatic: an update without a recorded commit still gets its config back (--force).
    rollbackProd: async () => void (await rollback(prod, { force: true, ...realRollback('prod') })),
    markProdGood: async () => {
      // Named by its start time: a self-managed backend numbers no update.
      const id = newestUpdateId(await historyOf(prod));
      if (id !== undefined) await prod.setTag(LAST_GOOD_TAG, id);
      console.log(`promote: done; prod's update of ${id} tagged ${LAST_GOOD_TAG}`);
    },
  });
  if (outcome.result !== 'done') {
    if (promoted && outcome.result !== 'rolled-back')
      console.error(
        `promote: Pulumi.prod.yaml in this working copy now names ${promoted}; check it out again (git checkout -- Pulumi.prod.yaml) unless prod runs it`,
      );
    process.exit(1);
  }
  // setConfig wrote the digest into the operator's working copy only: make it durable.
  const file = path.join(workDir(), 'Pulumi.prod.yaml');
  let commit = '';
  try {
    commit = await commitStackFile(ROOT, file, `promote ${promoted} to prod`);
    console.log(`promote: recorded ${promoted} in Pulumi.prod.yaml, commit ${commit}; push it (git push)`);
  } catch (err) {
    console.error(
      `promote: prod runs ${promoted}, but committing Pulumi.prod.yaml failed (${(err as Error).message.trim()}); ` +
        'commit and push that file yourself, or the next `up` from a fresh clone cannot deploy prod',
    );
    process.exit(1);
  }
  // The registry keeps what prod runs: an immutable tag naming the promote commit, which staging's
  // next build (it moves only its own tag) and a retention policy for untagged digests leave alone.
  const repository = await setting(prod, 'imageRepository');
  const tag = `prod-${commit.slice(0, 12)}`;
  try {
    const username = await setting(staging, 'registryUsername');
    const credentials: Credentials | undefined = username
      ? { username, password: await setting(staging, 'registryPassword') }
      : undefined;
    const r = await tagDigest({ repository, digest: promoted, tag, ...(credentials ? { credentials } : {}) });
    console.log(
      `promote: ${r.result === 'tagged' ? 'tagged' : 'already tagged'} ${r.reference} (${promoted})`,
    );
  } catch (err) {
    const why = err instanceof RegistryError ? err.message : String(err);
    console.error(
      `promote: prod runs ${promoted}, but tagging it ${tag} failed: ${why}; tag it yourself ` +
        `(crane tag ${repository}@${promoted} ${tag}) before a registry clean-up deletes the untagged digest`,
    );
    process.exit(1);
  }
  process.exit(0);
}

if (import.meta.url === `file://${process.argv[1]}`) void main();
