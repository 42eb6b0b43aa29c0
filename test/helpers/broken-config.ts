/**
 * Runs the Pulumi program under mocks for each config case given in BROKEN_CASES (JSON) and prints
 * one JSON line per case: whether it failed with a ResourceError, and the message. A program that
 * throws leaves Pulumi's pending outputs rejected; this runs in its own process so those stay here.
 */
import * as pulumi from '@pulumi/pulumi';
import { deployCluster } from '../../infra/cluster-stack/program.js';
import { deploy } from '../../infra/program.js';
import { mockNewResource, previousOutputs } from './pulumi.js';

/** `project` ainp-cluster runs the cluster stack's program instead of the app's. */
type Case = {
  stack: string;
  config: Record<string, string>;
  secrets: Record<string, string>;
  project?: 'ainp' | 'ainp-cluster';
  /** The namespace the stack's last update deployed to (its own output), if it had one. */
  previousNamespace?: string;
};
process.on('unhandledRejection', () => undefined);

const runtime = pulumi.runtime as unknown as {
  runInPulumiStack(init: () => Promise<unknown>): Promise<unknown>;
};
for (const c of JSON.parse(process.env.BROKEN_CASES ?? '[]') as Case[]) {
  await pulumi.runtime.setMocks(
    { newResource: mockNewResource, call: (a) => a.inputs },
    c.project ?? 'ainp',
    c.stack,
    false,
    'organization',
  );
  previousOutputs.clear();
  if (c.previousNamespace)
    previousOutputs.set(`organization/ainp/${c.stack}`, { namespace: c.previousNamespace });
  const secrets = Object.fromEntries(Object.entries(c.secrets).map(([k, v]) => [`ainp:${k}`, v]));
  pulumi.runtime.setAllConfig({ ...c.config, ...secrets }, Object.keys(secrets));
  let result: { failed: boolean; resourceError: boolean; message: string };
  try {
    await runtime.runInPulumiStack(async () => (c.project === 'ainp-cluster' ? deployCluster() : deploy()));
    result = { failed: false, resourceError: false, message: '' };
  } catch (err) {
    result = {
      failed: true,
      resourceError: pulumi.ResourceError.isInstance(err),
      message: (err as Error).message,
    };
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
process.exit(0);
