import { LocalWorkspace, type Stack, type UpOptions } from '@pulumi/pulumi/automation/index.js';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CLUSTER_PROJECT } from '../cluster-stack/program.js';
import { compareVersions } from '../config.js';
import { PROJECT, wholeHistory, withSource } from './history.js';
import { policyPacks } from './policy-packs.js';
import { ROOT } from './k6.js';
import { sourceCommit, type Source } from './source.js';

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

/** The same program from another checkout (rollback runs the program of the commit it restores). */
export const programFrom = (root: string) => async () =>
  (
    (await import(pathToFileURL(path.join(root, 'infra/program.ts')).href)) as {
      deploy: () => Promise<Record<string, unknown>>;
    }
  ).deploy();

/**
 * Where Pulumi.yaml and Pulumi.<stack>.yaml are read (and config is written): the repository, or
 * `AINP_PULUMI_WORKDIR` (the cluster lane keeps the secrets it sets out of the working tree).
 */
export const workDir = () => process.env.AINP_PULUMI_WORKDIR ?? ROOT;

/**
 * The oldest Pulumi CLI the ops commands accept. Their `up` hands the CLI the policy pack as an
 * executable file (infra/ops/policy-packs.ts), which only recent engines run (support for an
 * executable analyzer came in mid-2026); an older CLI looks for a PulumiPolicy.yaml beside it and
 * fails with a message that does not say why. 3.274.1 is the version this project builds and runs
 * the pack with (scripts/tools.sh, the cluster lane).
 */
export const MIN_PULUMI_CLI = '3.274.1';

/** Why this CLI cannot run the ops commands' `up`, or undefined when it can. */
export function pulumiCliProblem(version: string | undefined): string | undefined {
  const v = /^v?(\d+\.\d+\.\d+)/.exec(version ?? '')?.[1];
  if (v && compareVersions(v, MIN_PULUMI_CLI) >= 0) return undefined;
  return (
    `the pulumi CLI on PATH is ${version || 'of an unknown version'}; the policy pack needs ${MIN_PULUMI_CLI} ` +
    'or later (it runs the pack as an executable): upgrade it (pulumi.com/docs/install) or put .tools/bin first on PATH'
  );
}

/** Refuses a stack whose workspace's CLI cannot run the policy pack, before anything runs. */
function checked(stack: Stack): Stack {
  const problem = pulumiCliProblem(stack.workspace.pulumiVersion);
  if (problem) throw new Error(problem);
  return stack;
}

export async function selectStack(name: string, programRoot?: string): Promise<Stack> {
  return checked(
    await LocalWorkspace.selectStack(
      { stackName: name, projectName: PROJECT, program: programRoot ? programFrom(programRoot) : program },
      { workDir: workDir() },
    ),
  );
}

/**
 * `up` as every ops command runs it: with the project's policy packs (a violation fails it), and
 * the commit the program and chart come from (with the files that differed from it) at the end of
 * the update's message, where the history keeps it, so a rollback can bring back that code and not
 * only that config. Not in the stack's config: that is the tracked Pulumi.<stack>.yaml, and
 * writing it made every later update's tree dirty.
 */
export async function upRecorded(
  stack: Pick<Stack, 'up'>,
  opts: UpOptions & { source?: Source; root?: string } = {},
) {
  const { source, root, ...up } = opts;
  const recorded = source ?? (await sourceCommit(root ?? ROOT));
  return stack.up({
    ...up,
    message: withSource(up.message ?? 'up', recorded),
    policyPacks: [...(up.policyPacks ?? []), ...(await policyPacks())],
  });
}

/** The stack's whole update history (every page; `stack.history()` alone gives the newest 10). */
export const historyOf = (stack: Pick<Stack, 'history'>) =>
  wholeHistory((size, page, secrets) => stack.history(size, page, secrets));

/** The cluster stack's program (project ainp-cluster), also run inline. */
export const clusterProgram = async () => (await import('../cluster-stack/program.js')).deployCluster();

/** Where the cluster project's Pulumi.yaml and stack files are read: infra/cluster-stack, or beside AINP_PULUMI_WORKDIR. */
export const clusterWorkDir = () =>
  process.env.AINP_PULUMI_WORKDIR
    ? path.join(process.env.AINP_PULUMI_WORKDIR, 'cluster-stack')
    : path.join(ROOT, 'infra/cluster-stack');

/** A stack of the cluster project (one per Kubernetes cluster), created when it does not exist yet. */
export async function createOrSelectClusterStack(name: string): Promise<Stack> {
  return checked(
    await LocalWorkspace.createOrSelectStack(
      { stackName: name, projectName: CLUSTER_PROJECT, program: clusterProgram },
      { workDir: clusterWorkDir() },
    ),
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
  /** The stack's `kubernetes:context`: every kubectl call for this stack uses it ('' = current). */
  kubeContext: string;
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
    kubeContext: String(v('kubeContext') ?? ''),
    pou: (v('pou') as { k: number; m: number }) ?? { k: 3, m: 5 },
  };
}

export const print = (line: string) => process.stdout.write(line);
