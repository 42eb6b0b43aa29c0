/**
 * What a cluster must provide that fails silently when missing (issue 34, item 13), checked by
 * `npm run up:cluster` after the cluster stack is up, where a command can tell:
 * - the metrics API (`metrics.k8s.io`): without it the HPA never scales (EKS ships no
 *   metrics-server);
 * - the CloudNativePG webhook: a server-side dry run of a `Cluster` goes through the operator's
 *   validating webhook as every app stack's `up` will (on GKE private clusters the control plane
 *   cannot reach the webhook's port until a firewall rule allows it).
 * NetworkPolicy enforcement cannot be read from the API (EKS's VPC CNI and GKE without Dataplane V2
 * accept NetworkPolicies and enforce none): docs/RUNBOOK.md lists it for the operator to check.
 */
import { spawn } from 'node:child_process';
import { contextArgs } from './kubectl.js';

export type PrerequisiteState = 'ok' | 'missing' | 'skipped';
export interface Prerequisite {
  name: string;
  state: PrerequisiteState;
  detail: string;
}

/** Runs kubectl with `args` (and `input` on stdin); its exit code and output. */
export type KubectlRun = (args: string[], input?: string) => Promise<{ code: number; out: string }>;

/** The smallest CloudNativePG Cluster the webhook validates (never created: a server dry run). */
const PROBE_CLUSTER = JSON.stringify({
  apiVersion: 'postgresql.cnpg.io/v1',
  kind: 'Cluster',
  metadata: { name: 'ainp-prerequisite-probe', namespace: 'default' },
  spec: { instances: 1, storage: { size: '1Gi' } },
});

export async function checkPrerequisites(kubectl: KubectlRun, context?: string): Promise<Prerequisite[]> {
  const ctx = contextArgs(context);
  const metrics = await kubectl([...ctx, 'get', '--raw', '/apis/metrics.k8s.io/v1beta1']);
  const results: Prerequisite[] = [
    metrics.code === 0
      ? { name: 'metrics API', state: 'ok', detail: 'metrics.k8s.io answers: the HPA can scale' }
      : {
          name: 'metrics API',
          state: 'missing',
          detail:
            'metrics.k8s.io does not answer, so the HPA never scales the broker: install metrics-server (EKS has none by default)',
        },
  ];
  const hooks = await kubectl([...ctx, 'get', 'validatingwebhookconfigurations', '-o', 'name']);
  if (hooks.code !== 0 || !/cnpg/.test(hooks.out)) {
    results.push({
      name: 'CloudNativePG webhook',
      state: 'skipped',
      detail: 'no CloudNativePG validating webhook on this cluster (the operator is not installed here)',
    });
    return results;
  }
  const dry = await kubectl([...ctx, 'create', '--dry-run=server', '-f', '-'], PROBE_CLUSTER);
  results.push(
    /failed calling webhook/i.test(dry.out)
      ? {
          name: 'CloudNativePG webhook',
          state: 'missing',
          detail: `the API server cannot call the operator's webhook, so no database can be created (${firstLine(dry.out)}): on a GKE private cluster, allow the control plane to reach the nodes on port 9443`,
        }
      : {
          name: 'CloudNativePG webhook',
          state: 'ok',
          detail: 'a server dry run of a Cluster went through the operator webhook',
        },
  );
  return results;
}

const firstLine = (s: string) => s.trim().split('\n')[0] ?? '';

/** The lines `up:cluster` prints: each check, then what no command can check. */
export function prerequisiteReport(results: Prerequisite[], context?: string): string {
  const width = Math.max(...results.map((r) => r.name.length));
  return [
    `prerequisites of the cluster${context ? ` ${context}` : ''}:`,
    ...results.map((r) => `  ${r.state.toUpperCase().padEnd(7)} ${r.name.padEnd(width)}  ${r.detail}`),
    '  not checked: NetworkPolicy enforcement (the CNI must enforce it; see docs/RUNBOOK.md, "Prerequisites")',
  ].join('\n');
}

/** kubectl as a child process (KUBECTL or the one on PATH). */
export const runKubectl: KubectlRun = (args, input) =>
  new Promise((resolve) => {
    const child = spawn(process.env.KUBECTL ?? 'kubectl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.once('error', (err) => resolve({ code: 127, out: err.message }));
    child.once('close', (code) => resolve({ code: code ?? 1, out }));
    child.stdin.end(input ?? '');
  });
