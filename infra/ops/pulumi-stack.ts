import { LocalWorkspace, type Stack } from '@pulumi/pulumi/automation/index.js';
import { ROOT } from './k6.js';

/**
 * The thin Automation API layer (it drives the `pulumi` CLI, which must be installed and logged in
 * where promotion and rollback run). Every decision is in history.ts.
 */
export async function selectStack(name: string): Promise<Stack> {
  return LocalWorkspace.selectStack({ stackName: name, workDir: ROOT });
}

export type StackOutputs = {
  url: string;
  imageDigest: string;
  namespace: string;
  release: string;
  deployment: string;
  migrationJob: string;
  adminToken: string;
  pou: { k: number; m: number };
};

export async function stackOutputs(stack: Stack): Promise<StackOutputs> {
  const o = await stack.outputs();
  const v = (k: string) => o[k]?.value;
  return {
    url: String(v('url')),
    imageDigest: String(v('imageDigest')),
    namespace: String(v('namespace')),
    release: String(v('release')),
    deployment: String(v('deployment')),
    migrationJob: String(v('migrationJob')),
    adminToken: String(v('adminToken') ?? ''),
    pou: (v('pou') as { k: number; m: number }) ?? { k: 3, m: 5 },
  };
}

export const print = (line: string) => process.stdout.write(line);
