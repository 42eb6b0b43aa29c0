import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../infra/cluster/control-plane.js';
import { NODE_NAME } from '../../infra/cluster/node-plan.js';
import { ENV_SECRET } from '../../infra/components/broker.js';
import { CNPG_NAMESPACE } from '../../infra/components/cnpg-operator.js';
import { runGateJob } from '../../infra/ops/gate-job.js';
import {
  appStack,
  clusterStack,
  npmRun,
  ON_NODE,
  startNodeLane,
  stopNodeLane,
  timer,
  type NodeLane,
} from './node-fixture.js';

/**
 * The whole stack on the lane's real node (issue 32, item 3): the cluster stack installs the
 * CloudNativePG operator and the app stack its Cluster, Valkey, NATS and the broker, from the
 * vendored charts (test/cluster/charts) and the images scripts/node-images.sh built here, through
 * `npm run up:cluster` and `npm run up` (Automation API inline program, the real Pulumi CLI and
 * Kubernetes provider). Then what only running pods show: PostgreSQL Ready, the migration hook Job
 * run against it, the broker's real /ready, every CronJob's run, `npm run health` through a real
 * port-forward, and the k6 smoke gate as a Job beside the broker. The lane's own settings: see
 * node-fixture.ts.
 *
 * Needs root and scripts/install-deps.sh node; run it under `flock /tmp/ainp-real-node.lock`.
 */
const STACK = 'node';
const NS = 'ainp-node';
const RELEASE = 'ainp-broker';

let lane: NodeLane;

const { times, timed } = timer();
/** What the report pastes: pods, the migration Job's log, /ready, the gate summary. */
const evidence: Record<string, string> = {};

beforeAll(async () => {
  lane = await timed('control plane and real node up', () =>
    startNodeLane({ volumes: 5, workPrefix: 'ainp-pulumi-node-' }),
  );
  await clusterStack(lane, STACK);
  await appStack(lane, STACK, { namespace: NS });
}, 600_000);

afterAll(async () => {
  console.log('node stack lane times (s):', JSON.stringify(times));
  for (const [k, v] of Object.entries(evidence)) console.log(`--- ${k} ---\n${v}`);
  if (process.env.AINP_NODE_STACK_EVIDENCE)
    writeFileSync(process.env.AINP_NODE_STACK_EVIDENCE, JSON.stringify({ times, evidence }, null, 2));
  await stopNodeLane(lane);
}, 300_000);

describe('the cluster stack on the real node', () => {
  it('npm run up:cluster installs the CloudNativePG operator from the vendored chart, Ready with its webhook answering', async () => {
    const r = await timed('npm run up:cluster', () => npmRun('up:cluster', ['--stack', STACK]));
    expect(r.code, `${r.out}\n${await lane.diagnose()}`).toBe(0);
    const [op] = await timed('operator Ready', () =>
      lane.podsReady(
        'the CloudNativePG operator Ready',
        CNPG_NAMESPACE,
        'app.kubernetes.io/name=cloudnative-pg',
        1,
        300_000,
      ),
    ).catch(async (e) => {
      throw new Error(`${String(e)}\n${await lane.diagnose()}`);
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

  it('Valkey and NATS from their vendored charts turn Ready on the real node', async () => {
    const valkey = await timed('Valkey Ready', () =>
      lane.orDiagnose(lane.podsReady('Valkey Ready', NS, 'app.kubernetes.io/name=valkey', 1, 600_000)),
    );
    const nats = await timed('NATS Ready', () =>
      lane.orDiagnose(
        lane.podsReady(
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
      lane.orDiagnose(
        waitFor('the CNPG Cluster Ready', 900_000, async () => {
          const c = await lane.kubectlJson('-n', NS, 'get', 'clusters.postgresql.cnpg.io', 'ainp-db');
          return c.status?.conditions?.some((x: any) => x.type === 'Ready' && x.status === 'True')
            ? c
            : undefined;
        }),
      ),
    );
    expect(cluster.status.readyInstances).toBe(1);
    const version = await lane.cp.kubectl([
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
      lane.orDiagnose(
        waitFor('the migration Job complete', 600_000, async () => {
          const j = await lane.kubectlJson('-n', NS, 'get', 'job', `${RELEASE}-migrate`);
          return j.status?.succeeded === 1 ? j : undefined;
        }),
      ),
    );
    expect(job.status.succeeded).toBe(1);
    const log = await lane.cp.kubectl(['-n', NS, 'logs', `job/${RELEASE}-migrate`]);
    evidence['migration Job log'] = log;
    expect(log.length).toBeGreaterThan(0);
  });

  it('npm run up succeeds; the broker pods turn Ready (real /ready) with an HPA and a PDB', async () => {
    const r = await up;
    expect(r.code, `${r.out.slice(-6000)}\n${await lane.diagnose()}`).toBe(0);
    const pods = await lane.orDiagnose(
      lane.podsReady(
        'broker pods Ready',
        NS,
        `app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=api`,
        2,
        300_000,
      ),
    );
    for (const p of pods) expect(p.spec.nodeName).toBe(NODE_NAME);
    expect((await lane.kubectlJson('-n', NS, 'get', 'hpa', RELEASE)).spec).toMatchObject({
      minReplicas: 2,
      maxReplicas: 3,
    });
    expect((await lane.kubectlJson('-n', NS, 'get', 'pdb', RELEASE)).spec.minAvailable).toBe(1);
  });

  it('the finalizer, aggregator and credits CronJobs each complete a run', async () => {
    const names = ['finalizer', 'aggregator', 'credits'].map((n) => `${RELEASE}-${n}`);
    await timed('CronJobs ran', () =>
      lane.orDiagnose(
        waitFor('a successful run of every CronJob', 300_000, async () => {
          const all = await Promise.all(names.map((n) => lane.kubectlJson('-n', NS, 'get', 'cronjob', n)));
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
    const pf = await lane.portForward(NS, `service/${RELEASE}`, 80);
    try {
      const res = await fetch(`http://127.0.0.1:${pf.port}/ready`, { signal: AbortSignal.timeout(10_000) });
      const body = await res.text();
      evidence['/ready through the port-forward'] = `HTTP ${res.status}\n${body}`;
      expect(res.status).toBe(200);
    } finally {
      pf.close();
    }
  });

  it('the k6 smoke gate runs as a Job beside the broker with the lane’s k6 image and passes', async () => {
    const dir = path.join(lane.work, 'gate');
    const res = await timed('gate smoke Job', () =>
      runGateJob({
        namespace: NS,
        release: RELEASE,
        secret: ENV_SECRET,
        image: lane.images.pinned.k6,
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
    evidence['kubectl get pods -A -o wide'] = await lane.cp.kubectl(['get', 'pods', '-A', '-o', 'wide']);
    expect(evidence['kubectl get pods -A -o wide']).toContain(NODE_NAME);
  });
});
