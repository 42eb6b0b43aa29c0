/**
 * `npm run up:cluster -- --stack NAME`: `pulumi up` of a cluster stack (infra/cluster-stack, one per
 * Kubernetes cluster, before the app stacks that name it), with the project's policy packs; then
 * the cluster's silent prerequisites (prerequisites.ts), reported.
 *
 * `npm run up -- --stack NAME [--message TEXT]`: `pulumi up` of a stack as the ops commands run it,
 * with the source commit recorded in the update (ainp:sourceCommit), so `npm run rollback` can bring
 * back this program and chart later. Prod refuses a config without a promoted image digest (the
 * program's own check): prod changes only through `npm run promote` and `npm run rollback`.
 */
import { flags } from './args.js';
import { failureLine } from './errors.js';
import { policyPacks } from './policy-packs.js';
import { checkPrerequisites, prerequisiteReport, runKubectl } from './prerequisites.js';
import { createOrSelectClusterStack, print, selectStack, upRecorded } from './pulumi-stack.js';

const USAGE = 'npm run up -- --stack NAME [--message TEXT] | npm run up:cluster -- --stack NAME';

async function main() {
  const f = flags(
    { stack: { type: 'string' }, message: { type: 'string' }, cluster: { type: 'boolean' } },
    USAGE,
  );
  if (!f.stack) {
    process.stderr.write(`--stack is required\nusage: ${USAGE}\n`);
    process.exit(2);
  }
  try {
    const message = f.message ?? `up ${f.cluster ? 'cluster ' : ''}${f.stack}`;
    const res = f.cluster
      ? await (
          await createOrSelectClusterStack(f.stack)
        ).up({ onOutput: print, message, policyPacks: await policyPacks() })
      : await upRecorded(await selectStack(f.stack), { onOutput: print, message });
    if (f.cluster && res.summary.result === 'succeeded') {
      // What the cluster must provide that fails silently; reported, not fatal (the up succeeded).
      const context = (res.outputs.kubeContext?.value as string | undefined) || undefined;
      console.log(prerequisiteReport(await checkPrerequisites(runKubectl, context), context));
    }
    process.exit(res.summary.result === 'succeeded' ? 0 : 1);
  } catch (err) {
    console.error(
      failureLine(err, { command: f.cluster ? 'up:cluster' : 'up', stack: f.stack, cluster: f.cluster }),
    );
    process.exit(1);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) void main();
