import { LocalWorkspace, type Stack } from '@pulumi/pulumi/automation/index.js';
import { PROJECT } from './history.js';
import { ROOT } from './k6.js';

/**
 * The thin Automation API layer (it drives the `pulumi` CLI, which must be installed and logged in
 * where promotion and rollback run). Every decision is in history.ts.
 *
 * The stack runs the program as an inline program: `deploy()` from infra/program.ts, the function
 * infra/index.ts exports, run inside this process, which hands the CLI its own language endpoint.
 * So `up` needs no Node.js language host, only the CLI and the providers; Pulumi.yaml and the
 * stack files are read from the work directory as usual.
 */
export const program = async () => (await import('../program.js')).deploy();

/**
 * Where Pulumi.yaml and Pulumi.<stack>.yaml are read (and config is written): the repository, or
 * `AINP_PULUMI_WORKDIR` (the cluster lane keeps the secrets it sets out of the working tree).
 */
export const workDir = () => process.env.AINP_PULUMI_WORKDIR ?? ROOT;

export async function selectStack(name: string): Promise<Stack> {
  return LocalWorkspace.selectStack(
    { stackName: name, projectName: PROJECT, program },
    { workDir: workDir() },
  );
}

export async function createOrSelectStack(name: string): Promise<Stack> {
  return LocalWorkspace.createOrSelectStack(
    { stackName: name, projectName: PROJECT, program },
    { workDir: workDir() },
  );
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
