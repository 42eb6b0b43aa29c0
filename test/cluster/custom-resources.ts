/**
 * Prints, as one JSON list, the custom resources (CloudNativePG Cluster and ScheduledBackup, the
 * PodMonitor of its metrics) the
 * program registers for the staging and prod stacks, run under Pulumi's mocks with each stack's
 * YAML config. The cluster lane sends them to the API server (server-side dry run), which checks
 * them against the CRDs generated from CloudNativePG's own Go types. Its own process: a program
 * run under mocks and the Automation API's engine do not share one Pulumi runtime.
 */
import { deploy } from '../../infra/program.js';
import { runProgram, stackConfig } from '../helpers/pulumi.js';

const SECRETS: Record<string, Record<string, string>> = {
  staging: {},
  prod: { postgresBackupAccessKeyId: 'placeholder-id', postgresBackupSecretAccessKey: 'placeholder-key' },
};
const items: unknown[] = [];
for (const stack of ['staging', 'prod']) {
  // Prod's config is valid only with a promoted digest (what `npm run promote` commits into it).
  const config =
    stack === 'prod'
      ? { ...stackConfig(stack), 'ainp:imageDigest': `sha256:${'c'.repeat(64)}` }
      : stackConfig(stack);
  const run = await runProgram(stack, config, SECRETS[stack], deploy);
  for (const r of run.resources)
    if (/^kubernetes:[a-z0-9.-]+\.[a-z]+\/v[0-9a-z]+:/.test(r.type) && r.props.apiVersion?.includes('.'))
      items.push({
        apiVersion: r.props.apiVersion,
        kind: r.props.kind,
        metadata: r.props.metadata,
        spec: r.props.spec,
      });
}
process.stdout.write(JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
process.exit(0);
