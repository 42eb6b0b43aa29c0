import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ConfigMap, Stack } from '@pulumi/pulumi/automation/index.js';
import { expect } from 'vitest';
import { ROOT, startControlPlane, waitFor, type ControlPlane } from '../../infra/cluster/control-plane.js';
import type { NodeImages } from '../../infra/cluster/node.js';
import { HOST_PATHS, NODE_LABEL, NODE_NAME, NODE_TAINT, SYSCTLS } from '../../infra/cluster/node-plan.js';
import type { Scheduling } from '../../infra/config.js';
import { createOrSelectClusterStack, createOrSelectStack } from '../../infra/ops/pulumi-stack.js';
import { nodeLeftovers } from '../../scripts/leftovers.js';
import { pulumiWorkDir } from './pulumi-work.js';

/**
 * What every lane file that runs the project's stacks on the real node shares: the control plane and
 * the node, storage, a Pulumi work directory with a file:// backend, the lane's stack config, and the
 * helpers that wait for pods, explain a failure and reach a Service.
 *
 * What is the lane's own, set here and in no committed stack: every image points at the lane's,
 * pulled Never (they were imported into the node's containerd); the charts come from chartDirectory;
 * storage is a StorageClass with no provisioner and hostPath volumes in the cluster's folder; the
 * credentials are config secrets (no @pulumi/random here); the CronJobs run every minute; the
 * monitoring stack and exporters are off (no Prometheus, no image of theirs). Every pod goes to the
 * real node through the stacks' nodeSelector and tolerations (the kwok nodes stay schedulable).
 * The NATS config reloader sidecar runs the lane's pause image (no reloader image is built here).
 *
 * Needs root and scripts/install-deps.sh node; a file using it runs under
 * `flock /tmp/ainp-real-node.lock` (one real node per machine).
 */
const exec = promisify(execFile);
export const BIN = path.join(ROOT, '.tools/bin');
export const CHARTS = path.join(ROOT, 'test/cluster/charts');
export const STORAGE_CLASS = 'ainp-lane';

/**
 * The lane-only scheduling config of both stacks (and the gate Job): onto the real node, whose
 * taint keeps every other pod (the kwok lane's) off it; the kwok nodes stay schedulable.
 */
export const ON_NODE: Scheduling = {
  nodeSelector: { [NODE_LABEL.key]: NODE_LABEL.value },
  tolerations: [{ key: NODE_TAINT.key, operator: 'Exists', effect: NODE_TAINT.effect }],
};

export type Pod = {
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  spec: { nodeName?: string };
  status: {
    phase: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; image: string; imageID: string; ready: boolean }[];
  };
};
export const ready = (p: Pod) =>
  p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** What a real node changes on the host, read before it starts: sysctls, host paths, leftovers. */
export type MachineBefore = { sysctls: Record<string, string>; absent: string[]; leftovers: string[] };
const readSysctls = () => Object.fromEntries(SYSCTLS.map((f) => [f, readFileSync(f, 'utf8').trim()]));
export const machineBefore = (): MachineBefore => ({
  sysctls: readSysctls(),
  absent: HOST_PATHS.filter((f) => !existsSync(f)),
  leftovers: nodeLeftovers(),
});
/** After `down`: nothing of the node left, the sysctls as they were, no host path it made. */
export function expectMachineAsBefore(before: MachineBefore) {
  expect(nodeLeftovers()).toEqual([]);
  expect(readSysctls()).toEqual(before.sysctls);
  expect(HOST_PATHS.filter((f) => existsSync(f) && before.absent.includes(f))).toEqual([]);
}

export type Captured = { code: number; out: string };

/** A command with the lane's environment; resolves with its exit code and output, never rejects. */
export function captured(
  cmd: string,
  args: string[],
  o: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<Captured> {
  return exec(cmd, args, {
    cwd: o.cwd ?? ROOT,
    env: o.env ?? process.env,
    maxBuffer: 16 * 1024 * 1024,
    timeout: o.timeoutMs ?? 1_500_000,
  }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: { code: number | string; stdout?: string; stderr?: string; message: string }) => ({
      code: typeof e.code === 'number' ? e.code : 1,
      out: (e.stdout ?? '') + (e.stderr ?? '') || e.message,
    }),
  );
}

/** `npm run --silent <script> -- ...args` in the repository, as a user types it. */
export const npmRun = (script: string, args: string[]) =>
  captured('npm', ['run', '--silent', script, '--', ...args]);

/** Seconds per named step, for the report. */
export function timer() {
  const times: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t = Date.now();
    try {
      return await f();
    } finally {
      times[name] = (Date.now() - t) / 1000;
    }
  };
  return { times, timed };
}

export interface NodeLane {
  cp: ControlPlane;
  /** The machine before the node started (stopNodeLane checks it is so again). */
  before: MachineBefore;
  /** The node's images: references (repository:tag) and, in `pinned`, by digest. */
  images: NodeImages;
  /** The Pulumi work directory: Pulumi.yaml copied, infra linked, a file:// backend in state/. */
  work: string;
  kubectlJson<T = any>(...args: string[]): Promise<T>;
  /** Waits until every pod matching `selector` in `ns` (at least `min`) is Ready; returns them. */
  podsReady(what: string, ns: string, selector: string, min: number, timeoutMs: number): Promise<Pod[]>;
  /** What is going on, for a failure's message: every pod and the newest events. */
  diagnose(): Promise<string>;
  /** `p`, or its error with diagnose()'s output appended. */
  orDiagnose<T>(p: Promise<T>): Promise<T>;
  /** A real `kubectl port-forward` on a free loopback port; close() ends it. */
  portForward(ns: string, target: string, remotePort: number): Promise<{ port: number; close(): void }>;
}

/**
 * The control plane and the real node (zone-labelled, as the stacks spread over zones), a
 * StorageClass with `volumes` hostPath PersistentVolumes of 1Gi in the cluster's folder, and a
 * Pulumi work directory; sets process.env for every command the lane runs (PATH, KUBECONFIG, PULUMI_*).
 */
export async function startNodeLane(o: { volumes: number; workPrefix: string }): Promise<NodeLane> {
  const before = machineBefore();
  expect(before.leftovers, 'a real node was on the machine before the lane started').toEqual([]);
  // No CRDs from infra/crds: the CloudNativePG chart installs its own (helm owns them then).
  const cp = await startControlPlane({ node: true, crds: false, pointer: process.env.AINP_CLUSTER_STATE });
  const kubectlJson = async <T = any>(...args: string[]): Promise<T> =>
    JSON.parse(await cp.kubectl([...args, '-o', 'json'])) as T;
  const diagnose = async () => {
    const pods = await cp.kubectl(['get', 'pods', '-A', '-o', 'wide']).catch((e) => String(e));
    const events = await cp
      .kubectl(['get', 'events', '-A', '--sort-by=.lastTimestamp'])
      .then((e) => e.split('\n').slice(-40).join('\n'))
      .catch((e) => String(e));
    return `${pods}\n${events}`;
  };
  const lane: NodeLane = {
    cp,
    before,
    images: cp.node!.images,
    work: '',
    kubectlJson,
    diagnose,
    orDiagnose: (p) =>
      p.catch(async (e) => {
        throw new Error(`${String(e)}\n${await diagnose()}`);
      }),
    podsReady: (what, ns, selector, min, timeoutMs) =>
      waitFor(what, timeoutMs, async () => {
        const pods = (
          await kubectlJson<{ items: Pod[] }>('-n', ns, 'get', 'pods', '-l', selector)
        ).items.filter((p) => p.status.phase !== 'Succeeded');
        return pods.length >= min && pods.every(ready) ? pods : undefined;
      }),
    portForward: async (ns, target, remotePort) => {
      const pf = spawn(path.join(BIN, 'kubectl'), [
        '--kubeconfig',
        cp.kubeconfig,
        '-n',
        ns,
        'port-forward',
        target,
        `:${remotePort}`,
      ]);
      let out = '';
      pf.stdout.on('data', (d: Buffer) => (out += d.toString()));
      pf.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const close = () => void pf.kill();
      const port = await waitFor('port-forward to listen', 30_000, async () => {
        if (pf.exitCode !== null) throw new Error(`port-forward exited ${pf.exitCode}: ${out}`);
        return out.match(/127\.0\.0\.1:(\d+)/)?.[1];
      }).catch((e: unknown) => {
        close();
        throw e;
      });
      return { port: Number(port), close };
    },
  };
  await cp.kubectl(['label', 'node', NODE_NAME, 'topology.kubernetes.io/zone=zone-a']);
  const volumes = Array.from({ length: o.volumes }, (_, i) => {
    const dir = path.join(cp.dir, 'node', 'volumes', `pv-${i}`);
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o777);
    return {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: `lane-pv-${i}` },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Delete',
        storageClassName: STORAGE_CLASS,
        hostPath: { path: dir, type: 'Directory' },
      },
    };
  });
  await cp.kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'storage.k8s.io/v1',
          kind: 'StorageClass',
          metadata: { name: STORAGE_CLASS },
          provisioner: 'kubernetes.io/no-provisioner',
          volumeBindingMode: 'WaitForFirstConsumer',
        },
        ...volumes,
      ],
    }),
  );

  lane.work = pulumiWorkDir({ prefix: o.workPrefix, kubeconfig: cp.kubeconfig });
  return lane;
}

/** Stops the cluster and the node, removes the work directory, and checks nothing is left. */
export async function stopNodeLane(lane: NodeLane | undefined) {
  if (!lane) return;
  const dir = lane.cp.dir;
  await lane.cp.stop();
  if (lane.work) rmSync(lane.work, { recursive: true, force: true });
  // `down` left nothing of the node, its pods or their volumes (in the cluster's folder).
  expectMachineAsBefore(lane.before);
  expect(existsSync(dir)).toBe(false);
}

/** The cluster stack `name` with the lane's config: the CloudNativePG operator on the node. */
export async function clusterStack(lane: NodeLane, name: string): Promise<Stack> {
  const stack = await createOrSelectClusterStack(name);
  await stack.setAllConfig({
    'kubernetes:context': { value: 'ainp-local' },
    'ainp-cluster:cnpgOperator': { value: 'true' },
    'ainp-cluster:monitoringInstallStack': { value: 'false' },
    'ainp-cluster:cnpgOperatorImage': { value: lane.images['cnpg-operator'] },
    'ainp-cluster:imagePullPolicy': { value: 'Never' },
    'ainp-cluster:chartDirectory': { value: CHARTS },
    'ainp-cluster:nodeSelector': { value: JSON.stringify(ON_NODE.nodeSelector) },
    'ainp-cluster:tolerations': { value: JSON.stringify(ON_NODE.tolerations) },
  });
  return stack;
}

/**
 * The app stack `name` in `namespace`, on the cluster stack `cluster`, with the lane's config
 * (above); `config` adds or overrides keys (for example another broker image, or instances).
 */
export async function appStack(
  lane: NodeLane,
  name: string,
  o: { namespace: string; cluster?: string; config?: ConfigMap },
): Promise<Stack> {
  const stack = await createOrSelectStack(name);
  const secret = () => ({ value: randomBytes(24).toString('hex'), secret: true });
  const { images } = lane;
  await stack.setAllConfig({
    'kubernetes:context': { value: 'ainp-local' },
    'ainp:namespace': { value: o.namespace },
    'ainp:clusterStack': { value: `organization/ainp-cluster/${o.cluster ?? name}` },
    // The broker by digest, as the stacks pin it (the node tags every image by digest too).
    'ainp:imageRepository': { value: images.pinned.broker.split('@')[0]! },
    'ainp:imageDigest': { value: images.pinned.broker.split('@')[1]! },
    'ainp:valkeyImage': { value: images.valkey },
    'ainp:natsImage': { value: images.nats },
    'ainp:natsReloaderImage': { value: images.pause },
    'ainp:postgresImage': { value: images.postgres },
    'ainp:imagePullPolicy': { value: 'Never' },
    'ainp:chartDirectory': { value: CHARTS },
    'ainp:nodeSelector': { value: JSON.stringify(ON_NODE.nodeSelector) },
    'ainp:tolerations': { value: JSON.stringify(ON_NODE.tolerations) },
    'ainp:storageClass': { value: STORAGE_CLASS },
    'ainp:postgresStorageSize': { value: '1Gi' },
    'ainp:valkeyStorageSize': { value: '1Gi' },
    'ainp:natsStorageSize': { value: '1Gi' },
    'ainp:monitoringEnabled': { value: 'false' },
    'ainp:brokerReplicas': { value: '2' },
    'ainp:brokerMaxReplicas': { value: '3' },
    'ainp:brokerCpuRequest': { value: '50m' },
    'ainp:finalizerCron': { value: '*/1 * * * *' },
    'ainp:aggregatorCron': { value: '*/1 * * * *' },
    'ainp:creditsEnabled': { value: 'true' },
    'ainp:creditsCron': { value: '*/1 * * * *' },
    'ainp:postgresPassword': secret(),
    'ainp:valkeyPassword': secret(),
    'ainp:natsToken': secret(),
    'ainp:adminToken': secret(),
    ...o.config,
  });
  return stack;
}
