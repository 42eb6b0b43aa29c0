import * as pulumi from '@pulumi/pulumi';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/**
 * Runs the Pulumi program in-process under `pulumi.runtime.setMocks` (the engine and the cluster
 * cannot exist here) with a stack's YAML config, and captures every resource as the program
 * registered it: type, name, resolved inputs, which inputs were secret, and its dependsOn.
 */
export type Captured = {
  type: string;
  name: string;
  props: Record<string, any>;
  /** Paths (a.b.c) of inputs that were Pulumi secrets. */
  secretPaths: string[];
  dependsOn: string[];
  parent: string | undefined;
  /** The resource option: a delete only forgets the resource. */
  retainOnDelete: boolean;
  /** The resource option: an update that would delete or replace it fails. */
  protect: boolean;
  /** Read with `Resource.get` (the cluster's identity): the stack neither creates nor changes it. */
  read: boolean;
};

export const PROJECT = 'ainp';

/** `sha256:` digest the mocked docker build returns, so tests can recognise it. */
export const BUILT_DIGEST = `sha256:${'b'.repeat(64)}`;

export function mockSecret(name: string): string {
  return `mock-secret-for-${name}`;
}

export function stackConfig(stack: string): Record<string, string> {
  const file = parse(readFileSync(`Pulumi.${stack}.yaml`, 'utf8')) as { config: Record<string, unknown> };
  return Object.fromEntries(Object.entries(file.config).map(([k, v]) => [k, String(v)]));
}

async function resolve<T>(value: T): Promise<{ value: any; secret: boolean }> {
  const out = pulumi.output(value);
  const [v, secret] = await Promise.all([
    new Promise((r) => out.apply(r)),
    (out as unknown as { isSecret: Promise<boolean> }).isSecret,
  ]);
  return { value: v, secret };
}

async function secretPathsOf(value: unknown, path: string[] = []): Promise<string[]> {
  if (pulumi.Output.isInstance(value)) {
    const { value: v, secret } = await resolve(value);
    if (secret) return [path.join('.')];
    return secretPathsOf(v, path);
  }
  if (Array.isArray(value))
    return (await Promise.all(value.map((v, i) => secretPathsOf(v, [...path, String(i)])))).flat();
  if (value && typeof value === 'object')
    return (await Promise.all(Object.entries(value).map(([k, v]) => secretPathsOf(v, [...path, k])))).flat();
  return [];
}

/**
 * The cluster a kubeconfig context reaches, as the UID of its kube-system namespace: by default one
 * cluster per context name; a test maps two names to one cluster (two machines' names for it).
 */
export const contextClusters = new Map<string, string>();
export const clusterUidOf = (context: string) =>
  contextClusters.get(context) ?? `kube-system-uid-of-${context}`;

const STACK_OUTPUTS = {
  monitoringNamespace: 'monitoring',
  monitoringSelectorLabels: {},
  cnpgOperator: 'cnpg-system',
  prometheusStack: true,
};

/**
 * The cluster stacks (project ainp-cluster) the mocked backend holds, by fully qualified name, with
 * their outputs as the cluster program exports them. The shipped app stacks name staging's and prod's.
 */
export const clusterStacks = new Map<string, Record<string, unknown>>([
  ...['staging', 'prod', 'local'].map((s): [string, Record<string, unknown>] => [
    `organization/ainp-cluster/${s}`,
    {
      kubeContext: `ainp-${s}`,
      clusterUid: clusterUidOf(`ainp-${s}`),
      monitoringNamespace: 'monitoring',
      monitoringSelectorLabels: {},
      cnpgOperator: s === 'local' ? '' : 'cnpg-system',
      prometheusStack: s !== 'local',
    },
  ]),
  // A cluster whose operator's kubeconfig names it like staging's context: another cluster all the same.
  [
    'organization/ainp-cluster/elsewhere',
    { ...STACK_OUTPUTS, kubeContext: 'ainp-staging', clusterUid: 'kube-system-uid-of-another-cluster' },
  ],
  // A cluster stack deployed before it recorded its cluster's identity: only its context's name.
  ['organization/ainp-cluster/legacy', { ...STACK_OUTPUTS, kubeContext: 'ainp-prod' }],
]);

/** What the mocked engine returns for a new resource: its inputs, plus what providers compute. */
/** The outputs an app stack's last update left (`organization/ainp/<stack>`), as a test declares them. */
export const previousOutputs = new Map<string, Record<string, unknown>>();

export function mockNewResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
  const state: Record<string, unknown> = { ...args.inputs };
  if (args.type === 'random:index/randomPassword:RandomPassword') state.result = mockSecret(args.name);
  // A StackReference reads another stack's outputs: here, the cluster stacks a test declares.
  if (args.type === 'pulumi:pulumi:StackReference') {
    const name = String(args.inputs.name);
    // The program reads its own stack's last outputs too: none unless a test declared some.
    const outputs =
      clusterStacks.get(name) ??
      previousOutputs.get(name) ??
      (name.startsWith(`organization/${PROJECT}/`) ? {} : undefined);
    if (!outputs) throw new Error(`no stack ${name} in the mocked backend`);
    state.outputs = outputs;
    state.secretOutputNames = [];
  }
  // The provider reads kube-system of the cluster its context reaches (cluster-identity.ts).
  if (args.type === 'kubernetes:core/v1:Namespace' && args.id === 'kube-system')
    state.metadata = {
      name: 'kube-system',
      uid: clusterUidOf(new pulumi.Config('kubernetes').get('context') ?? ''),
    };
  // docker-build's Image reports the pushed image index's digest.
  if (args.type === 'docker-build:index:Image') state.digest = BUILT_DIGEST;
  return { id: `${args.name}-id`, state };
}

export type ProgramRun = { resources: Captured[]; outputs: Record<string, any>; secretOutputs: string[] };

export async function runProgram(
  stack: string,
  config: Record<string, string>,
  secrets: Record<string, string> = {},
  program: () => Record<string, unknown> | Promise<Record<string, unknown>>,
  project = PROJECT,
): Promise<ProgramRun> {
  const pending: Promise<Captured>[] = [];
  current = pending;
  await pulumi.runtime.setMocks(
    {
      newResource: mockNewResource,
      call: (args) => args.inputs,
    },
    project,
    stack,
    false,
    'organization',
  );
  const all: Record<string, string> = {};
  for (const [k, v] of Object.entries({
    ...config,
    ...Object.fromEntries(Object.entries(secrets).map(([k, v]) => [`${project}:${k}`, v])),
  }))
    all[k] = v;
  pulumi.runtime.setAllConfig(
    all,
    Object.keys(secrets).map((k) => `${project}:${k}`),
  );

  let outputs: Record<string, unknown> = {};
  // As the real runtime does: a root Stack resource, with the capture as its transformation.
  await (
    pulumi.runtime as unknown as { runInPulumiStack(init: () => Promise<unknown>): Promise<unknown> }
  ).runInPulumiStack(async () => {
    installCapture();
    outputs = await program();
    return outputs;
  });
  const resolved: Record<string, any> = {};
  const secretOutputs: string[] = [];
  for (const [k, v] of Object.entries(outputs)) {
    const r = await resolve(v);
    resolved[k] = r.value;
    if (r.secret) secretOutputs.push(k);
  }
  return { resources: await Promise.all(pending), outputs: resolved, secretOutputs };
}

let current: Promise<Captured>[] = [];
const names = new Map<pulumi.Resource, string>();

/** A stack transformation (on this run's root Stack) that records into the current run's list. */
function installCapture(): void {
  pulumi.runtime.registerStackTransformation((args) => {
    names.set(args.resource, `${args.type}::${args.name}`);
    const dependsOn = ([] as pulumi.Resource[]).concat(
      (args.opts.dependsOn as pulumi.Resource[] | undefined) ?? [],
    );
    const parent = args.opts.parent;
    current.push(
      (async () => {
        const { value } = await resolve(args.props);
        // Registered (the mocked engine answered) before the run ends: nothing of it is left
        // in flight when the next run resets the mocks.
        await resolve(args.resource.urn);
        return {
          type: args.type,
          name: args.name,
          // Inputs left unset are dropped, as they are in the request Pulumi sends.
          props: JSON.parse(JSON.stringify(value ?? {})),
          secretPaths: await secretPathsOf(args.props),
          dependsOn: dependsOn.map((d) => names.get(d) ?? '?'),
          parent: parent ? names.get(parent) : undefined,
          retainOnDelete: args.opts.retainOnDelete === true,
          protect: args.opts.protect === true,
          // `Resource.get`: read from the cluster, never created or changed by the stack.
          read: (args.opts as pulumi.CustomResourceOptions).id !== undefined,
        };
      })(),
    );
    return undefined;
  });
}
