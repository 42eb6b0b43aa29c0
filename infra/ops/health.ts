/**
 * `npm run health -- --stack NAME` (or `--namespace NS --release R`), on the stack's cluster
 * (`kubernetes:context`, or `--context`): rollout status, ready pods,
 * the migration Job, each CronJob's last success within twice its schedule, and /ready through a
 * port-forward to the Service, or at `--ready-url URL` where no port-forward can reach a pod (the
 * loopback cluster's kwok nodes have no kubelet: the lane points it at a broker it started on the
 * same external services). Prints one line per check; exits 0 when nothing failed, 1 when a check failed, 2 on
 * a usage error, 3 when kubectl itself failed (no cluster, no access).
 */
import { flags } from './args.js';
import { evaluateHealth, formatReport } from './kube-health.js';
import { gatherHealth, type HealthTarget } from './kubectl.js';

const USAGE =
  'npm run health -- --stack NAME | --namespace NS [--context CTX] [--release ainp-broker] [--ready-url URL]';

export async function healthOf(t: HealthTarget) {
  return evaluateHealth(await gatherHealth(t));
}

async function main() {
  const f = flags(
    {
      stack: { type: 'string' },
      namespace: { type: 'string' },
      context: { type: 'string' },
      release: { type: 'string' },
      'ready-url': { type: 'string' },
    },
    USAGE,
  );
  let target: HealthTarget;
  if (f.stack) {
    const { selectStack, stackOutputs } = await import('./pulumi-stack.js');
    const { failureLine } = await import('./errors.js');
    const o = await selectStack(f.stack)
      .then(stackOutputs)
      .catch((err: unknown) => {
        console.error(failureLine(err, { command: 'health', stack: f.stack! }));
        return process.exit(1);
      });
    target = {
      context: f.context ?? o.kubeContext,
      namespace: o.namespace,
      release: o.release,
      migrationJob: o.migrationJob,
      readyUrl: f['ready-url'],
    };
  } else if (f.namespace) {
    const release = f.release ?? 'ainp-broker';
    target = {
      context: f.context,
      namespace: f.namespace,
      release,
      migrationJob: `${release}-migrate`,
      readyUrl: f['ready-url'],
    };
  } else {
    process.stderr.write(`--stack or --namespace is required\nusage: ${USAGE}\n`);
    process.exit(2);
  }
  const report = await healthOf(target).catch(async (err: unknown) => {
    const { kubectlError } = await import('./errors.js');
    const ctx = target.context ? `context ${target.context}` : 'the current context';
    console.error(
      `health: kubectl could not query the cluster (${ctx}): ${kubectlError(err)}; ` +
        'check the context and your access (kubectl config get-contexts; kubectl get pods -n ' +
        `${target.namespace})`,
    );
    return process.exit(3);
  });
  console.log(`health of ${target.release} in ${target.namespace}\n${formatReport(report.checks)}`);
  console.log(report.exitCode === 0 ? 'health: OK' : 'health: FAILING');
  process.exit(report.exitCode);
}

if (import.meta.url === `file://${process.argv[1]}`) void main();
