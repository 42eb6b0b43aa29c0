import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Stack } from '@pulumi/pulumi/automation/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startControlPlane, waitFor, type ControlPlane } from '../../infra/cluster/control-plane.js';
import type { NodeImages } from '../../infra/cluster/node.js';
import { NODE_LABEL, NODE_NAME, NODE_TAINT } from '../../infra/cluster/node-plan.js';
import type { Scheduling } from '../../infra/config.js';
import { ENV_SECRET } from '../../infra/components/broker.js';
import { CNPG_NAMESPACE } from '../../infra/components/cnpg-operator.js';
import { runGateJob } from '../../infra/ops/gate-job.js';
import { createOrSelectClusterStack, createOrSelectStack } from '../../infra/ops/pulumi-stack.js';
import { nodeLeftovers } from '../../scripts/leftovers.js';

/**
 * The whole stack on the lane's real node (issue 32, item 3): the cluster stack installs the
 * CloudNativePG operator and the app stack its Cluster, Valkey, NATS and the broker, from the
 * vendored charts (test/cluster/charts) and the images scripts/node-images.sh built here, through
 * `npm run up:cluster` and `npm run up` (Automation API inline program, the real Pulumi CLI and
 * Kubernetes provider). Then what only running pods show: PostgreSQL Ready, the migration hook Job
 * run against it, the broker's real /ready, every CronJob's run, `npm run health` through a real
 * port-forward, and the k6 smoke gate as a Job beside the broker.
 *
 * What is the lane's own, set here and in no committed stack: every image points at the lane's,
 * pulled Never (they were imported into the node's containerd); the charts come from chartDirectory;
 * storage is a StorageClass with no provisioner and hostPath volumes in the cluster's folder; the
 * credentials are config secrets (no @pulumi/random here); the CronJobs run every minute; the
 * monitoring stack and exporters are off (no Prometheus, no image of theirs). Every pod goes to the
 * real node through the stacks' nodeSelector and tolerations (the kwok nodes stay schedulable).
 * The NATS config reloader sidecar runs the lane's pause image (no reloader image is built here).
 *
 * Needs root and scripts/install-deps.sh node; run it under `flock /tmp/ainp-real-node.lock`.
 */
const exec = promisify(execFile);
const BIN = path.join(ROOT, '.tools/bin');
const CHARTS = path.join(ROOT, 'test/cluster/charts');
/** A fixed passphrase for a throw-away file:// backend on loopback: a test value, not a secret. */
const PASSPHRASE = 'ainp-loopback-test-passphrase';
const STACK = 'node';
const NS = 'ainp-node';
const RELEASE = 'ainp-broker';
const STORAGE_CLASS = 'ainp-lane';
const VOLUMES = 5;
/**
 * The lane-only scheduling config of both stacks (and the gate Job): onto the real node, whose
 * taint keeps every other pod (the kwok lane's) off it; the kwok nodes stay schedulable.
 */
const ON_NODE: Scheduling = {
  nodeSelector: { [NODE_LABEL.key]: NODE_LABEL.value },
  tolerations: [{ key: NODE_TAINT.key, operator: 'Exists', effect: NODE_TAINT.effect }],
};

let cp: ControlPlane;
let work: string;
let stack: Stack;
/** The node's images: references (repository:tag) and, in `pinned`, by digest. */
let images: NodeImages;
const times: Record<string, number> = {};
/** What the report pastes: pods, the migration Job's log, /ready, the gate summary. */
const evidence: Record<string, string> = {};

const kubectlJson = async <T = any>(...args: string[]): Promise<T> =>
  JSON.parse(await cp.kubectl([...args, '-o', 'json'])) as T;

/** A command with the lane's environment; resolves with its exit code and output. */
function captured(cmd: string, args: string[]) {
  return exec(cmd, args, {
    cwd: ROOT,
    env: process.env,
    maxBuffer: 16 * 1024 * 1024,
    timeout: 1_500_000,
  }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
  );
}
const npmRun = (script: string, args: string[]) =>
  captured('npm', ['run', '--silent', script, '--', ...args]);

const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
  const t = Date.now();
  try {
    return await f();
  } finally {
    times[name] = (Date.now() - t) / 1000;
  }
};

type Pod = {
  metadata: { name: string; namespace: string };
  spec: { nodeName?: string };
  status: { phase: string; conditions?: { type: string; status: string }[] };
};
const ready = (p: Pod) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

/** Waits until every pod matching `selector` in `ns` (at least `min`) is Ready; returns them. */
const podsReady = (what: string, ns: string, selector: string, min: number, timeoutMs: number) =>
  waitFor(what, timeoutMs, async () => {
    const pods = (await kubectlJson<{ items: Pod[] }>('-n', ns, 'get', 'pods', '-l', selector)).items.filter(
      (p) => p.status.phase !== 'Succeeded',
    );
    return pods.length >= min && pods.every(ready) ? pods : undefined;
  });

/** What is going on, for a failure's message: every pod and the newest events. */
async function diagnose(): Promise<string> {
  const pods = await cp.kubectl(['get', 'pods', '-A', '-o', 'wide']).catch((e) => String(e));
  const events = await cp
    .kubectl(['get', 'events', '-A', '--sort-by=.lastTimestamp'])
    .then((e) => e.split('\n').slice(-40).join('\n'))
    .catch((e) => String(e));
  return `${pods}\n${events}`;
}

beforeAll(async () => {
  cp = await timed('control plane and real node up', () =>
    // No CRDs from infra/crds: the CloudNativePG chart installs its own (helm owns them then).
    startControlPlane({ node: true, crds: false, pointer: process.env.AINP_CLUSTER_STATE }),
  );
  images = cp.node!.images;
  // The stacks' pods spread over zones (DoNotSchedule): the node needs one, as the kwok nodes have.
  await cp.kubectl(['label', 'node', NODE_NAME, 'topology.kubernetes.io/zone=zone-a']);
  // Storage: volumes in the cluster's folder (removed with it), bound by class.
  const volumes = Array.from({ length: VOLUMES }, (_, i) => {
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

  work = mkdtempSync(path.join(os.tmpdir(), 'ainp-pulumi-node-'));
  mkdirSync(path.join(work, 'state'));
  copyFileSync(path.join(ROOT, 'Pulumi.yaml'), path.join(work, 'Pulumi.yaml'));
  symlinkSync(path.join(ROOT, 'infra'), path.join(work, 'infra'));
  mkdirSync(path.join(work, 'cluster-stack'));
  copyFileSync(
    path.join(ROOT, 'infra/cluster-stack/Pulumi.yaml'),
    path.join(work, 'cluster-stack/Pulumi.yaml'),
  );
  symlinkSync(path.join(ROOT, 'infra/cluster-stack/index.ts'), path.join(work, 'cluster-stack/index.ts'));
  Object.assign(process.env, {
    PATH: `${BIN}:${process.env.PATH}`,
    KUBECONFIG: cp.kubeconfig,
    KUBECTL: path.join(BIN, 'kubectl'),
    PULUMI_BACKEND_URL: `file://${path.join(work, 'state')}`,
    PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
    PULUMI_HOME: path.join(work, 'home'),
    PULUMI_SKIP_UPDATE_CHECK: 'true',
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: 'true',
    AINP_PULUMI_WORKDIR: work,
  });
  const cluster = await createOrSelectClusterStack(STACK);
  await cluster.setAllConfig({
    'kubernetes:context': { value: 'ainp-local' },
    'ainp-cluster:cnpgOperator': { value: 'true' },
    'ainp-cluster:monitoringInstallStack': { value: 'false' },
    'ainp-cluster:cnpgOperatorImage': { value: images['cnpg-operator'] },
    'ainp-cluster:imagePullPolicy': { value: 'Never' },
    'ainp-cluster:chartDirectory': { value: CHARTS },
    'ainp-cluster:nodeSelector': { value: JSON.stringify(ON_NODE.nodeSelector) },
    'ainp-cluster:tolerations': { value: JSON.stringify(ON_NODE.tolerations) },
  });
  stack = await createOrSelectStack(STACK);
  const secret = () => ({ value: randomBytes(24).toString('hex'), secret: true });
  await stack.setAllConfig({
    'kubernetes:context': { value: 'ainp-local' },
    'ainp:namespace': { value: NS },
    'ainp:clusterStack': { value: `organization/ainp-cluster/${STACK}` },
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
  });
}, 600_000);

afterAll(async () => {
  console.log('node stack lane times (s):', JSON.stringify(times));
  for (const [k, v] of Object.entries(evidence)) console.log(`--- ${k} ---\n${v}`);
  if (process.env.AINP_NODE_STACK_EVIDENCE)
    writeFileSync(process.env.AINP_NODE_STACK_EVIDENCE, JSON.stringify({ times, evidence }, null, 2));
  const dir = cp?.dir;
  await cp?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
  // `down` left nothing of the node, its pods or their volumes (in the cluster's folder).
  if (dir) {
    expect(nodeLeftovers()).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  }
}, 300_000);

describe('the cluster stack on the real node', () => {
  it('npm run up:cluster installs the CloudNativePG operator from the vendored chart, Ready with its webhook answering', async () => {
    const r = await timed('npm run up:cluster', () => npmRun('up:cluster', ['--stack', STACK]));
    expect(r.code, `${r.out}\n${await diagnose()}`).toBe(0);
    const [op] = await timed('operator Ready', () =>
      podsReady(
        'the CloudNativePG operator Ready',
        CNPG_NAMESPACE,
        'app.kubernetes.io/name=cloudnative-pg',
        1,
        300_000,
      ),
    ).catch(async (e) => {
      throw new Error(`${String(e)}\n${await diagnose()}`);
    });
    expect(op!.spec.nodeName).toBe(NODE_NAME);
  });
});

describe('the app stack on the real node', () => {
  let up: Promise<{ code: number; out: string }>;
  beforeAll(() => {
    up = timed('npm run up', () =>
      npmRun('up', ['--stack', STACK, '--message', 'lane: stack on the real node']),
    );
  });
  afterAll(async () => {
    // Whatever happened, the up ends before the cluster stops.
    await up;
  }, 1_500_000);

  const orDiagnose = async <T>(p: Promise<T>) =>
    p.catch(async (e) => {
      throw new Error(`${String(e)}\n${await diagnose()}`);
    });

  it('Valkey and NATS from their vendored charts turn Ready on the real node', async () => {
    const valkey = await timed('Valkey Ready', () =>
      orDiagnose(podsReady('Valkey Ready', NS, 'app.kubernetes.io/name=valkey', 1, 600_000)),
    );
    const nats = await timed('NATS Ready', () =>
      orDiagnose(
        podsReady(
          'NATS Ready',
          NS,
          'app.kubernetes.io/name=nats,app.kubernetes.io/component=nats',
          1,
          600_000,
        ),
      ),
    );
    for (const p of [...valkey, ...nats]) expect(p.spec.nodeName).toBe(NODE_NAME);
  });

  it('the CloudNativePG Cluster reaches Ready with real PostgreSQL', async () => {
    const cluster = await timed('CNPG Cluster Ready', () =>
      orDiagnose(
        waitFor('the CNPG Cluster Ready', 900_000, async () => {
          const c = await kubectlJson('-n', NS, 'get', 'clusters.postgresql.cnpg.io', 'ainp-db');
          return c.status?.conditions?.some((x: any) => x.type === 'Ready' && x.status === 'True')
            ? c
            : undefined;
        }),
      ),
    );
    expect(cluster.status.readyInstances).toBe(1);
    const version = await cp.kubectl([
      '-n',
      NS,
      'exec',
      'ainp-db-1',
      '-c',
      'postgres',
      '--',
      'psql',
      '-tAc',
      'select version()',
    ]);
    evidence['PostgreSQL'] = version.trim();
    expect(version).toMatch(/^PostgreSQL \d+\.\d+/);
  });

  it('the migration hook Job runs the migrations against it and completes', async () => {
    const job = await timed('migration Job complete', () =>
      orDiagnose(
        waitFor('the migration Job complete', 600_000, async () => {
          const j = await kubectlJson('-n', NS, 'get', 'job', `${RELEASE}-migrate`);
          return j.status?.succeeded === 1 ? j : undefined;
        }),
      ),
    );
    expect(job.status.succeeded).toBe(1);
    const log = await cp.kubectl(['-n', NS, 'logs', `job/${RELEASE}-migrate`]);
    evidence['migration Job log'] = log;
    expect(log.length).toBeGreaterThan(0);
  });

  it('npm run up succeeds; the broker pods turn Ready (real /ready) with an HPA and a PDB', async () => {
    const r = await up;
    expect(r.code, `${r.out.slice(-6000)}\n${await diagnose()}`).toBe(0);
    const pods = await orDiagnose(
      podsReady(
        'broker pods Ready',
        NS,
        `app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=api`,
        2,
        300_000,
      ),
    );
    for (const p of pods) expect(p.spec.nodeName).toBe(NODE_NAME);
    expect((await kubectlJson('-n', NS, 'get', 'hpa', RELEASE)).spec).toMatchObject({
      minReplicas: 2,
      maxReplicas: 3,
    });
    expect((await kubectlJson('-n', NS, 'get', 'pdb', RELEASE)).spec.minAvailable).toBe(1);
  });

  it('the finalizer, aggregator and credits CronJobs each complete a run', async () => {
    const names = ['finalizer', 'aggregator', 'credits'].map((n) => `${RELEASE}-${n}`);
    await timed('CronJobs ran', () =>
      orDiagnose(
        waitFor('a successful run of every CronJob', 300_000, async () => {
          const all = await Promise.all(names.map((n) => kubectlJson('-n', NS, 'get', 'cronjob', n)));
          return all.every((c) => c.status?.lastSuccessfulTime) ? all : undefined;
        }),
      ),
    );
  });

  it('npm run health passes every check, /ready through a real port-forward', async () => {
    const r = await timed('npm run health', () => npmRun('health', ['--stack', STACK]));
    evidence['npm run health'] = r.out;
    expect(r.out).toContain('ok   /ready: 200');
    expect(r.out).toContain('health: OK');
    expect(r.code).toBe(0);
  });

  it('/ready answers 200 through a real kubectl port-forward to the broker’s Service: PostgreSQL, Valkey and NATS up', async () => {
    const pf = spawn(path.join(BIN, 'kubectl'), [
      '--kubeconfig',
      cp.kubeconfig,
      '-n',
      NS,
      'port-forward',
      `service/${RELEASE}`,
      ':80',
    ]);
    try {
      let out = '';
      pf.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const port = await waitFor(
        'port-forward to listen',
        30_000,
        async () => out.match(/127\.0\.0\.1:(\d+)/)?.[1],
      );
      const res = await fetch(`http://127.0.0.1:${port}/ready`, { signal: AbortSignal.timeout(10_000) });
      const body = await res.text();
      evidence['/ready through the port-forward'] = `HTTP ${res.status}\n${body}`;
      expect(res.status).toBe(200);
    } finally {
      pf.kill();
    }
  });

  it('the k6 smoke gate runs as a Job beside the broker with the lane’s k6 image and passes', async () => {
    const dir = path.join(work, 'gate');
    const res = await timed('gate smoke Job', () =>
      runGateJob({
        namespace: NS,
        release: RELEASE,
        secret: ENV_SECRET,
        image: images.pinned.k6,
        script: 'smoke',
        runId: 'node',
        timeoutSeconds: 600,
        summaryDir: dir,
        scheduling: ON_NODE,
      }),
    );
    // The summary's headline metrics (the whole summary and HTML report are kept in `dir`).
    const m = (res.summary as { metrics?: Record<string, { values: Record<string, number> }> } | undefined)
      ?.metrics;
    evidence['gate summary'] = m
      ? ['checks', 'http_reqs', 'http_req_failed', 'http_req_duration', 'iterations']
          .map((k) => `${k}: ${JSON.stringify(m[k]?.values)}`)
          .join('\n')
      : JSON.stringify(res, null, 2);
    expect(res.problem).toBeUndefined();
    expect(res.exitCode).toBe(0);
    expect(res.summary).toBeDefined();
  });

  it('kubectl get pods -A -o wide', async () => {
    evidence['kubectl get pods -A -o wide'] = await cp.kubectl(['get', 'pods', '-A', '-o', 'wide']);
    expect(evidence['kubectl get pods -A -o wide']).toContain(NODE_NAME);
  });
});
