import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { chartDigest } from '../infra/chart-digest.js';
import { ENV_SECRET } from '../infra/components/broker.js';
import { parseStackConfig } from '../infra/config.js';
import { deploy } from '../infra/program.js';
import { fromManifest, violations, type PolicyResource } from '../infra/policies.js';
import { readSlo } from '../infra/slo.js';
import { releaseSchema } from './helpers/release.js';
import { crdValidator } from './helpers/crd.js';
import { HELM, renderChart, run as exec, validateManifest, type Manifest } from './helpers/k8s.js';
import {
  BUILT_DIGEST,
  clusterStacks,
  mockSecret,
  runProgram,
  stackConfig,
  type Captured,
  type ProgramRun,
} from './helpers/pulumi.js';
import { scratchDir } from './helpers/tmp.js';
import { parseAllDocuments } from 'yaml';
import { BROKER_POD_LABELS as BROKER_PODS } from '../infra/broker-values.js';
import { NATS_SELECTOR as NATS_PODS } from '../infra/components/nats.js';

/** The third-party charts as packaged from their sources (a copy of shared/ sits beside the clone). */
const SHARED_CHARTS = path.resolve('..', 'shared', 'charts');

/**
 * The Pulumi program, run once per stack under Pulumi's mocks with that stack's YAML config: what
 * it registers, in which order, which inputs stay secret, whether every raw manifest is valid and
 * every policy passes; then the broker chart rendered by the real helm with the values the
 * program computed, so what Pulumi would deploy is what the chart tests check.
 */
const PROD_SECRETS = {
  postgresBackupAccessKeyId: 'operator-set-access-key-id',
  postgresBackupSecretAccessKey: 'operator-set-secret-access-key',
};
const secretsFor = (stack: string) => (stack === 'prod' ? PROD_SECRETS : {});
/** Prod's config is valid only with a promoted digest: what `npm run promote` commits into it. */
const PROMOTED = `sha256:${'c'.repeat(64)}`;
const promotedConfig = (stack: string) =>
  stack === 'prod' ? { ...stackConfig(stack), 'ainp:imageDigest': PROMOTED } : stackConfig(stack);

const find = (run: ProgramRun, type: string, name: string): Captured => {
  const r = run.resources.find((x) => x.type.endsWith(type) && x.name === name);
  if (!r)
    throw new Error(`no ${type} ${name} in ${run.resources.map((x) => `${x.type}/${x.name}`).join(', ')}`);
  return r;
};
const asPolicyResource = (r: Captured): PolicyResource => ({ type: r.type, name: r.name, props: r.props });
// The CloudNativePG CRDs generated from its Go types (the lane checks the same on a real API server).
const validateCluster = crdValidator('postgresql.cnpg.io_clusters.yaml');
const validateScheduledBackup = crdValidator('postgresql.cnpg.io_scheduledbackups.yaml');
const validatePodMonitor = crdValidator('monitoring.coreos.com_podmonitors.yaml');
const K8S_KINDS = /^kubernetes:(core|apps|batch|policy|networking\.k8s\.io|autoscaling)\/v[0-9a-z]+:/;

const INVENTORY = [
  'ainp:platform:Platform',
  'ainp:platform:Namespace/namespace',
  'kubernetes:core/v1:Namespace/namespace',
  // The cluster stack's outputs (context, monitoring namespace and labels); its operators are its own.
  'pulumi:pulumi:StackReference/cluster',
  // Read, not managed: its cluster's identity (kube-system's UID), compared with the cluster stack's.
  'kubernetes:core/v1:Namespace/cluster-identity',
  // Its own last outputs: the namespace it deployed to (a change is refused).
  'pulumi:pulumi:StackReference/previous',
  'ainp:postgres:Database/postgres',
  'random:index/randomPassword:RandomPassword/postgres-password',
  'kubernetes:core/v1:Secret/postgres-app',
  'kubernetes:postgresql.cnpg.io/v1:Cluster/postgres-cluster',
  // CloudNativePG's metrics: our PodMonitor (its enablePodMonitor is deprecated; no labels).
  'kubernetes:monitoring.coreos.com/v1:PodMonitor/postgres-pod-monitor',
  // Each backing service admits the broker, Prometheus (and for PostgreSQL the operator) only.
  'kubernetes:networking.k8s.io/v1:NetworkPolicy/postgres-network-policy',
  'kubernetes:networking.k8s.io/v1:NetworkPolicy/valkey-network-policy',
  'kubernetes:networking.k8s.io/v1:NetworkPolicy/nats-network-policy',
  'ainp:valkey:Valkey/valkey',
  'random:index/randomPassword:RandomPassword/valkey-password',
  'kubernetes:core/v1:Secret/valkey-users',
  'kubernetes:helm.sh/v3:Release/valkey',
  'ainp:nats:Nats/nats',
  'random:index/randomPassword:RandomPassword/nats-token',
  'kubernetes:core/v1:Secret/nats-auth',
  'kubernetes:helm.sh/v3:Release/nats',
  'ainp:broker:Broker/broker',
  'docker-build:index:Image/broker-image',
  'random:index/randomPassword:RandomPassword/broker-admin-token',
  'kubernetes:core/v1:Secret/broker-env',
  'kubernetes:helm.sh/v3:Release/broker',
];
const PROD_ONLY = [
  // Valkey with replicas: the PDB (the chart's own is left off).
  'kubernetes:policy/v1:PodDisruptionBudget/valkey-pdb',
  'kubernetes:core/v1:Secret/postgres-backup-credentials',
  'kubernetes:postgresql.cnpg.io/v1:ScheduledBackup/postgres-scheduled-backup',
];

const expected = {
  staging: {
    k: 3,
    m: 5,
    cron: '*/1 * * * *',
    interval: 60,
    replicas: 2,
    pdbMin: 1,
    db: 1,
    nats: 1,
    valkey: 0,
  },
  prod: { k: 5, m: 9, cron: '*/5 * * * *', interval: 300, replicas: 3, pdbMin: 2, db: 3, nats: 3, valkey: 2 },
} as const;

beforeAll(() => {
  if (!existsSync(HELM)) throw new Error('helm is not built: run scripts/tools.sh helm (npm test does)');
});

describe.each(['staging', 'prod'] as const)('stack %s under Pulumi mocks', (stack) => {
  let run: ProgramRun;
  let chart: Manifest[];
  const want = expected[stack];

  beforeAll(async () => {
    run = await runProgram(stack, promotedConfig(stack), secretsFor(stack), deploy);
    const values = find(run, 'Release', 'broker').props.values;
    const dir = scratchDir('ainp-values');
    writeFileSync(path.join(dir, 'values.json'), JSON.stringify(values));
    chart = await renderChart(['-f', path.join(dir, 'values.json')], {
      release: find(run, 'Release', 'broker').props.name,
      namespace: run.outputs.namespace,
    });
  });

  it('registers the expected inventory, each resource under its component', () => {
    const got = run.resources.map((r) =>
      r.type === 'ainp:platform:Platform' ? r.type : `${r.type}/${r.name}`,
    );
    // Prod deploys the promoted digest: it builds no image.
    const inventory = stack === 'prod' ? INVENTORY.filter((r) => !r.startsWith('docker-build:')) : INVENTORY;
    expect(got.sort()).toEqual([...inventory, ...(stack === 'prod' ? PROD_ONLY : [])].sort());
    // The StackReference and the cluster's identity are read before the Platform exists (deploy()
    // checks the cluster stack first), so they sit at the stack's root.
    for (const r of run.resources.filter(
      (x) => !x.type.startsWith('ainp:') && !x.type.startsWith('pulumi:') && !x.read,
    ))
      expect(r.parent, `${r.type}/${r.name}`).toMatch(/^ainp:[a-z]+:[A-Z][A-Za-z]+::/);
  });

  it('applies the stack differences from SPEC section 8', () => {
    const values = find(run, 'Release', 'broker').props.values;
    // The public URL: the stack's ingress class, cert-manager issuer and controller namespace.
    expect(values.ingress).toMatchObject({
      enabled: true,
      className: 'nginx',
      annotations: {
        'cert-manager.io/cluster-issuer': stack === 'prod' ? 'letsencrypt-prod' : 'letsencrypt-staging',
      },
      tls: { enabled: true, secretName: 'ainp-broker-tls' },
    });
    expect(values.networkPolicy.ingressNamespaceSelector).toEqual({
      'kubernetes.io/metadata.name': 'ingress-nginx',
    });
    // A digest of the chart's files: a chart change upgrades the release even without a version bump.
    expect(values.chartDigest).toBe(chartDigest(path.resolve('helm')));
    expect(values.environment).toBe(stack);
    expect(values.config).toMatchObject({ POU_K: String(want.k), POU_M: String(want.m) });
    expect(values.jobs.finalizer).toMatchObject({
      enabled: true,
      schedule: want.cron,
      intervalSeconds: want.interval,
    });
    expect(values.replicaCount).toBe(want.replicas);
    expect(values.autoscaling.minReplicas).toBe(want.replicas);
    expect(values.pdb).toEqual({ enabled: true, minAvailable: want.pdbMin });
    expect(find(run, 'Cluster', 'postgres-cluster').props.spec.instances).toBe(want.db);
    // A deleted primary fails over after 15 s, not CloudNativePG's 180 s smart shutdown.
    expect(find(run, 'Cluster', 'postgres-cluster').props.spec.smartShutdownTimeout).toBe(15);
    // Instances on distinct nodes (required) and spread over zones.
    expect(find(run, 'Cluster', 'postgres-cluster').props.spec.affinity).toEqual({
      enablePodAntiAffinity: true,
      topologyKey: 'kubernetes.io/hostname',
      podAntiAffinityType: 'required',
    });
    expect(find(run, 'Cluster', 'postgres-cluster').props.spec.topologySpreadConstraints).toEqual([
      {
        maxSkew: 1,
        topologyKey: 'topology.kubernetes.io/zone',
        whenUnsatisfiable: 'DoNotSchedule',
        labelSelector: { matchLabels: { 'cnpg.io/cluster': 'ainp-db' } },
      },
    ]);
    // A PDB over a single instance would allow no eviction and block every node drain.
    expect(find(run, 'Cluster', 'postgres-cluster').props.spec.enablePDB).toBe(want.db > 1);
    // PostgreSQL 16 pinned by digest, a `system` image (the only kind that still runs barman-cloud backups).
    expect(find(run, 'Cluster', 'postgres-cluster').props.spec.imageName).toMatch(
      /^ghcr\.io\/cloudnative-pg\/postgresql:16\.\d+-\d{12}-system-trixie@sha256:[0-9a-f]{64}$/,
    );
    // The pools fit what PostgreSQL accepts (infra/config.ts checks the sum).
    expect(find(run, 'Cluster', 'postgres-cluster').props.spec.postgresql).toEqual({
      parameters: { max_connections: '200' },
    });
    expect(values.config.DB_POOL_MAX).toBe(stack === 'prod' ? '6' : '10');
    // The event stream keeps a copy on 3 servers of a clustered NATS.
    expect(values.config.NATS_STREAM_REPLICAS).toBe(want.nats >= 3 ? '3' : '1');
    const nats = find(run, 'Release', 'nats').props.values;
    expect(nats.config.jetstream.enabled).toBe(true);
    expect(nats.config.cluster).toEqual({ enabled: want.nats >= 3, replicas: want.nats });
    expect(nats.podDisruptionBudget.enabled).toBe(true);
    const valkey = find(run, 'Release', 'valkey').props.values;
    expect(valkey.auth.enabled).toBe(true);
    expect(valkey.dataStorage.enabled).toBe(true);
    if (want.valkey) expect(valkey.replica).toMatchObject({ enabled: true, replicas: want.valkey });
    else expect(valkey.replica).toEqual({ enabled: false });
  });

  it('Valkey: what the chart (0.9.4 and later 0.x) does with the values (PDB, strategy, exporter credentials)', () => {
    const release = find(run, 'Release', 'valkey').props;
    const valkey = release.values;
    expect(release.version).toBe('0.9.4');
    // The chart's own PDB (podDisruptionBudget.enabled) stays off: the program makes the only one.
    expect(valkey).not.toHaveProperty('podDisruptionBudget');
    // The PDB the program makes with replicas, selecting the pods by the chart's selector labels.
    const pdbs = run.resources.filter((r) => r.type === 'kubernetes:policy/v1:PodDisruptionBudget');
    if (want.valkey) {
      expect(pdbs.map((r) => r.name)).toEqual(['valkey-pdb']);
      const pdb = pdbs[0]!.props;
      expect(pdb.metadata).toEqual({ name: 'ainp-valkey', namespace: run.outputs.namespace });
      expect(pdb.spec).toEqual({
        maxUnavailable: 1,
        selector: {
          matchLabels: { 'app.kubernetes.io/name': 'valkey', 'app.kubernetes.io/instance': 'ainp-valkey' },
        },
      });
      expect(find(run, 'PodDisruptionBudget', 'valkey-pdb').dependsOn).toContain(
        'kubernetes:helm.sh/v3:Release::valkey',
      );
    } else expect(pdbs).toEqual([]);
    // The standalone Deployment mounts a ReadWriteOnce volume: a rolling update never finishes.
    expect(valkey.deploymentStrategy).toBe('Recreate');
    // Exporter credentials: from 0.9.4 the chart mounts the `default` key of the users Secret into
    // the exporter (secretKeyRef); the password itself is never in the values.
    expect(valkey.auth).toMatchObject({ enabled: true, usersExistingSecret: 'ainp-valkey-users' });
    expect(valkey.auth.aclUsers.default).not.toHaveProperty('passwordKey');
    expect(find(run, 'Secret', 'valkey-users').props.stringData).toHaveProperty('default');
    expect(valkey.metrics.enabled).toBe(true);
    expect(valkey.metrics.exporter).not.toHaveProperty('extraEnvs');
    expect(JSON.stringify(valkey)).not.toContain(mockSecret('valkey-password'));
    const backup = find(run, 'Cluster', 'postgres-cluster').props.spec.backup;
    if (stack === 'prod') expect(backup.barmanObjectStore.destinationPath).toMatch(/^s3:\/\//);
    else expect(backup).toBeUndefined();
    expect(run.outputs.pou).toEqual({ k: want.k, m: want.m });
    expect(run.outputs.cronJobs['ainp-broker-finalizer']).toEqual({
      schedule: want.cron,
      intervalSeconds: want.interval,
    });
  });

  it('protects prod’s data: the Namespace, the database Cluster and the releases owning volumes', () => {
    const guarded = [
      ['v1:Namespace', 'namespace'],
      ['Cluster', 'postgres-cluster'],
      ['Release', 'nats'],
      ['Release', 'valkey'],
    ] as const;
    for (const [type, name] of guarded)
      expect(find(run, type, name), `${type}/${name}`).toMatchObject({
        protect: stack === 'prod',
        retainOnDelete: stack === 'prod',
      });
    // The broker's own release holds no data: it stays replaceable.
    expect(find(run, 'Release', 'broker').protect).toBe(false);
  });

  it('orders dependencies: database, Valkey and NATS before the broker; its Secret before the Cluster', () => {
    const release = find(run, 'Release', 'broker');
    expect(release.dependsOn).toEqual(
      expect.arrayContaining([
        'kubernetes:postgresql.cnpg.io/v1:Cluster::postgres-cluster',
        'kubernetes:helm.sh/v3:Release::valkey',
        'kubernetes:helm.sh/v3:Release::nats',
        'kubernetes:core/v1:Secret::broker-env',
      ]),
    );
    expect(find(run, 'Cluster', 'postgres-cluster').dependsOn).toEqual(
      expect.arrayContaining(['kubernetes:core/v1:Secret::postgres-app']),
    );
    for (const c of ['postgres', 'valkey', 'nats', 'broker'])
      expect(run.resources.find((r) => r.type.startsWith('ainp:') && r.name === c)!.dependsOn).toContain(
        'ainp:platform:Namespace::namespace',
      );
    // The release waits for hooks and Jobs, so `up` fails when the migration fails.
    expect(release.props).toMatchObject({ skipAwait: false, waitForJobs: true });
  });

  it('runs migrations before the rollout: the rendered migration Job is a pre-install/pre-upgrade hook', () => {
    const job = chart.find((m) => m.kind === 'Job' && m.metadata.name === run.outputs.migrationJob)!;
    expect(job.metadata.annotations!['helm.sh/hook']).toBe('pre-install,pre-upgrade');
    const deployment = chart.find((m) => m.kind === 'Deployment')!;
    expect(deployment.metadata.name).toBe(run.outputs.deployment);
    expect(deployment.metadata.annotations?.['helm.sh/hook']).toBeUndefined();
  });

  it('keeps secrets secret: Secret data and connection URLs are Pulumi secrets, never in values or outputs', () => {
    for (const s of run.resources.filter((r) => r.type === 'kubernetes:core/v1:Secret'))
      expect(s.secretPaths, s.name).toContain('stringData');
    const env = find(run, 'Secret', 'broker-env').props.stringData;
    expect(Object.keys(env).sort()).toEqual(['ADMIN_TOKEN', 'DATABASE_URL', 'NATS_URL', 'REDIS_URL']);
    expect(env.DATABASE_URL).toContain(mockSecret('postgres-password'));
    const generated = ['postgres-password', 'valkey-password', 'nats-token', 'broker-admin-token'].map(
      mockSecret,
    );
    const operatorSet = Object.values(secretsFor(stack));
    // The admin token is an output (the gates need it), and a secret one; nothing else is secret.
    expect(run.secretOutputs).toEqual(['adminToken']);
    expect(run.outputs.adminToken).toBe(mockSecret('broker-admin-token'));
    const { adminToken: _token, ...plainOutputs } = run.outputs;
    const publicText = JSON.stringify([
      plainOutputs,
      run.resources
        .filter((r) => r.type !== 'kubernetes:core/v1:Secret' && !r.type.startsWith('random:'))
        .map((r) => r.props),
      chart,
    ]);
    for (const s of [...generated, ...operatorSet]) expect(publicText).not.toContain(s);
    // Every Secret the chart reads is one the program creates.
    expect(find(run, 'Release', 'broker').props.values.existingSecret).toBe(env && 'ainp-broker-env');
  });

  it("scrapes CloudNativePG through its own PodMonitor, not the operator's deprecated one", () => {
    expect(find(run, 'Cluster', 'postgres-cluster').props.spec.monitoring).toEqual({
      enablePodMonitor: false,
    });
    const monitor = find(run, 'PodMonitor', 'postgres-pod-monitor').props;
    expect(monitor.metadata).toMatchObject({ name: 'ainp-db', namespace: run.outputs.namespace, labels: {} });
    expect(monitor.spec).toEqual({
      selector: { matchLabels: { 'cnpg.io/cluster': 'ainp-db' } },
      podMetricsEndpoints: [{ port: 'metrics' }],
    });
  });

  it('admits only the broker, Prometheus and the CloudNativePG operator to PostgreSQL, Valkey and NATS', () => {
    const ns = run.outputs.namespace;
    const broker = { podSelector: { matchLabels: BROKER_PODS } };
    const prometheus = {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
    };
    const tcp = (...ports: number[]) => ports.map((port) => ({ port, protocol: 'TCP' }));
    const policy = (name: string) => {
      const { metadata, spec } = find(run, 'NetworkPolicy', `${name}-network-policy`).props;
      return { metadata, spec };
    };
    const cnpg = { podSelector: { matchLabels: { 'cnpg.io/cluster': 'ainp-db' } } };
    expect(policy('postgres')).toEqual({
      metadata: { name: 'ainp-db', namespace: ns },
      spec: {
        podSelector: { matchLabels: { 'cnpg.io/cluster': 'ainp-db' } },
        policyTypes: ['Ingress'],
        ingress: [
          { from: [broker, cnpg], ports: tcp(5432) },
          {
            from: [
              cnpg,
              { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'cnpg-system' } } },
            ],
            ports: tcp(8000),
          },
          { from: [prometheus], ports: tcp(9187) },
        ],
      },
    });
    const valkeyPods = { 'app.kubernetes.io/name': 'valkey', 'app.kubernetes.io/instance': 'ainp-valkey' };
    expect(policy('valkey')).toEqual({
      metadata: { name: 'ainp-valkey', namespace: ns },
      spec: {
        podSelector: { matchLabels: valkeyPods },
        policyTypes: ['Ingress'],
        ingress: [
          { from: [broker, { podSelector: { matchLabels: valkeyPods } }], ports: tcp(6379) },
          { from: [prometheus], ports: tcp(9121) },
        ],
      },
    });
    const natsPods = { ...NATS_PODS };
    // No peer reaches NATS's unauthenticated monitoring port 8222.
    expect(policy('nats')).toEqual({
      metadata: { name: 'ainp-nats', namespace: ns },
      spec: {
        podSelector: { matchLabels: natsPods },
        policyTypes: ['Ingress'],
        ingress: [
          { from: [broker], ports: tcp(4222) },
          { from: [{ podSelector: { matchLabels: natsPods } }], ports: tcp(6222) },
          { from: [prometheus], ports: tcp(7777) },
        ],
      },
    });
    expect(find(run, 'Release', 'nats').props.values.natsBox).toEqual({ enabled: false });
    // Every pod of the broker's release (API, migration Job, CronJobs) carries the admitted labels.
    const podLabels = chart.flatMap((m) => {
      if (m.kind === 'Deployment' || m.kind === 'Job')
        return [[m.metadata.name, m.spec.template.metadata.labels]];
      if (m.kind === 'CronJob') return [[m.metadata.name, m.spec.jobTemplate.spec.template.metadata.labels]];
      return [];
    });
    expect(podLabels.map(([n]) => n).sort()).toEqual(
      ['ainp-broker', 'ainp-broker-migrate', ...Object.keys(run.outputs.cronJobs)].sort(),
    );
    for (const [name, labels] of podLabels) expect(labels, name).toMatchObject(BROKER_PODS);
  });

  it.skipIf(!existsSync(SHARED_CHARTS))(
    'the NetworkPolicies select the pods the Valkey and NATS charts render with the program’s values',
    async () => {
      for (const [release, tgz, selector] of [
        ['valkey', 'valkey-0.9.4.tgz', 'valkey-network-policy'],
        ['nats', 'nats-1.3.16.tgz', 'nats-network-policy'],
      ] as const) {
        const r = find(run, 'Release', release).props;
        const dir = scratchDir(`ainp-${release}`);
        writeFileSync(path.join(dir, 'values.json'), JSON.stringify(r.values));
        const { stdout } = await exec(
          HELM,
          [
            'template',
            r.name,
            path.join(SHARED_CHARTS, tgz),
            '--namespace',
            run.outputs.namespace,
            '--kube-version',
            '1.30.0',
            '-f',
            path.join(dir, 'values.json'),
          ],
          { maxBuffer: 20 * 1024 * 1024 },
        );
        const pods = parseAllDocuments(stdout)
          .map((d) => d.toJS() as Manifest)
          .filter((m) => m && ['Deployment', 'StatefulSet'].includes(m.kind));
        const wanted = find(run, 'NetworkPolicy', selector).props.spec.podSelector.matchLabels;
        // Every workload the chart renders is a server the policy covers (nats-box is off).
        expect(pods.length, release).toBeGreaterThan(0);
        for (const p of pods)
          expect(p.spec.template.metadata.labels, `${release} ${p.kind}`).toMatchObject(wanted);
      }
    },
  );

  it('every raw Kubernetes manifest is valid against its schema', async () => {
    let checked = 0;
    for (const r of run.resources.filter((r) => !r.read)) {
      if (K8S_KINDS.test(r.type)) {
        await validateManifest(r.props as Manifest);
        checked++;
      } else if (r.type.endsWith(':Cluster')) {
        validateCluster(r.props);
        checked++;
      } else if (r.type.endsWith(':ScheduledBackup')) {
        validateScheduledBackup(r.props);
        checked++;
      } else if (r.type.endsWith(':PodMonitor')) {
        validatePodMonitor(r.props);
        checked++;
      } else if (r.type === 'kubernetes:helm.sh/v3:Release') {
        releaseSchema.parse(r.props);
        checked++;
      }
    }
    expect(checked).toBe(run.resources.filter((r) => r.type.startsWith('kubernetes:') && !r.read).length);
  });

  it('passes every policy, on the program and on the chart it deploys', () => {
    expect(violations(run.resources.map(asPolicyResource))).toEqual([]);
    expect(violations(chart.map(fromManifest))).toEqual([]);
  });

  it('renders the chart with the computed values into valid manifests carrying the stack settings', async () => {
    for (const m of chart) await validateManifest(m);
    const deployment = chart.find((m) => m.kind === 'Deployment')!;
    const container = deployment.spec.template.spec.containers[0];
    expect(container.image).toBe(run.outputs.imageRef);
    expect(container.image).toBe(`ghcr.io/ainp/broker@${stack === 'prod' ? PROMOTED : BUILT_DIGEST}`);
    const env = Object.fromEntries(
      container.env.filter((e: any) => 'value' in e).map((e: any) => [e.name, e.value]),
    );
    expect(env).toMatchObject({ POU_K: String(want.k), POU_M: String(want.m) });
    // The credentials come from the Secret the program writes, never from a plain value.
    const fromSecrets = Object.fromEntries(
      container.env.filter((e: any) => e.valueFrom).map((e: any) => [e.name, e.valueFrom.secretKeyRef]),
    );
    const credentials = ['DATABASE_URL', 'REDIS_URL', 'NATS_URL', 'ADMIN_TOKEN'];
    expect(fromSecrets).toEqual(
      Object.fromEntries(credentials.map((key) => [key, { name: ENV_SECRET, key }])),
    );
    expect(Object.keys(env)).not.toEqual(expect.arrayContaining([expect.stringMatching(/URL$|TOKEN$/)]));
    const cron = chart.find((m) => m.kind === 'CronJob' && m.metadata.name === 'ainp-broker-finalizer')!;
    expect(cron.spec.schedule).toBe(want.cron);
    expect(cron.spec.concurrencyPolicy).toBe('Forbid');
    expect(chart.find((m) => m.kind === 'PodDisruptionBudget')!.spec.minAvailable).toBe(want.pdbMin);
    expect(chart.find((m) => m.kind === 'HorizontalPodAutoscaler')!.spec.minReplicas).toBe(want.replicas);
    expect(chart.find((m) => m.kind === 'Ingress')!.spec.rules[0].host).toBe(new URL(run.outputs.url).host);
    // The alert thresholds come from the SLO file.
    const slo = readSlo();
    const rules = JSON.stringify(chart.find((m) => m.kind === 'PrometheusRule')!.spec);
    expect(rules).toContain(`> ${slo.availability.errorRate}`);
    expect(rules).toContain(`> ${slo.latency.p95Ms / 1000}`);
    expect(rules).toContain(`> ${2 * want.interval}`);
  });
});

describe('a Gateway API route', () => {
  it('renders an HTTPRoute for the host attached to the configured Gateway listener, beside the Ingress', async () => {
    const refs = [{ name: 'public', namespace: 'gateway-system', sectionName: 'https' }];
    const run = await runProgram(
      'staging',
      { ...stackConfig('staging'), 'ainp:gatewayParentRefs': JSON.stringify(refs) },
      {},
      deploy,
    );
    const values = find(run, 'Release', 'broker').props.values;
    expect(values.httpRoute).toEqual({
      enabled: true,
      host: new URL(run.outputs.url).host,
      parentRefs: refs,
    });
    expect(values.ingress.enabled).toBe(true);
    const staging = await runProgram('staging', stackConfig('staging'), {}, deploy);
    expect(find(staging, 'Release', 'broker').props.values.httpRoute).toEqual({ enabled: false });
    expect(parseStackConfig({ gatewayParentRefs: JSON.stringify(refs) })).toEqual({
      ok: false,
      problems: ['gatewayParentRefs: the HTTPRoute routes `host`; set host too'],
    });
    expect(parseStackConfig({ gatewayParentRefs: '[{"gateway":"x"}]' })).toMatchObject({
      ok: false,
      problems: [expect.stringMatching(/^gatewayParentRefs: must be a JSON array of Gateway references/)],
    });
  });
});

describe('the broker release’s rollout timeout', () => {
  it('waits 900 s by default and brokerRolloutTimeoutSeconds when set; refuses one under 30 s', async () => {
    const staging = await runProgram('staging', stackConfig('staging'), {}, deploy);
    expect(find(staging, 'Release', 'broker').props.timeout).toBe(900);
    const short = await runProgram(
      'staging',
      { ...stackConfig('staging'), 'ainp:brokerRolloutTimeoutSeconds': '120' },
      {},
      deploy,
    );
    expect(find(short, 'Release', 'broker').props).toMatchObject({ timeout: 120, skipAwait: false });
    expect(parseStackConfig({ brokerRolloutTimeoutSeconds: '5' })).toMatchObject({
      ok: false,
      problems: [expect.stringMatching(/^brokerRolloutTimeoutSeconds: /)],
    });
  });
});

describe('a private registry', () => {
  const PUSH = 'operator-set-push-token';
  const PULL = 'operator-set-read-only-token';
  /** Every Kubernetes object the run would create, as text (Secrets included). */
  const clusterText = (run: ProgramRun) =>
    JSON.stringify(run.resources.filter((r) => r.type.startsWith('kubernetes:')).map((r) => r.props));

  it('pulls with a dockerconfigjson Secret made from the read-only pull credential, never the push one', async () => {
    const run = await runProgram(
      'staging',
      {
        ...stackConfig('staging'),
        'ainp:registryServer': 'registry.example',
        'ainp:registryUsername': 'ci',
        'ainp:registryPullUsername': 'cluster-reader',
      },
      { registryPassword: PUSH, registryPullPassword: PULL },
      deploy,
    );
    const pull = find(run, 'Secret', 'broker-pull');
    expect(pull.props.type).toBe('kubernetes.io/dockerconfigjson');
    expect(pull.secretPaths.some((p) => p.startsWith('stringData'))).toBe(true);
    expect(JSON.parse(pull.props.stringData['.dockerconfigjson'])).toEqual({
      auths: {
        'registry.example': {
          username: 'cluster-reader',
          password: PULL,
          auth: Buffer.from(`cluster-reader:${PULL}`).toString('base64'),
        },
      },
    });
    expect(find(run, 'Release', 'broker').props.values.imagePullSecrets).toEqual(['ainp-broker-pull']);
    // The push credential goes to the image build only.
    expect(clusterText(run)).not.toContain(PUSH);
    expect(JSON.stringify(find(run, 'Image', 'broker-image').props.registries)).toContain(PUSH);
  });

  it('hands the cluster no credential when only the push one is set (the nodes pull with their own)', async () => {
    const run = await runProgram(
      'staging',
      { ...stackConfig('staging'), 'ainp:registryServer': 'registry.example', 'ainp:registryUsername': 'ci' },
      { registryPassword: PUSH },
      deploy,
    );
    expect(run.resources.filter((r) => r.name === 'broker-pull')).toEqual([]);
    expect(find(run, 'Release', 'broker').props.values.imagePullSecrets).toEqual([]);
    expect(clusterText(run)).not.toContain(PUSH);
  });

  it('refuses half a pull credential', () => {
    expect(parseStackConfig({ registryPullUsername: 'cluster-reader' })).toEqual({
      ok: false,
      problems: [
        'registryPullPassword: required (pulumi config set --secret registryPullPassword) with registryPullUsername',
      ],
    });
    expect(parseStackConfig({}, new Set(['registryPullPassword']))).toEqual({
      ok: false,
      problems: ['registryPullUsername: required with the secret registryPullPassword'],
    });
  });
});

describe('monitors for a Prometheus that selects by label', () => {
  const labels = { release: 'kube-prometheus-stack', team: 'ainp' };
  const expectLabelled = (run: ProgramRun) => {
    const broker = find(run, 'Release', 'broker').props.values.metrics;
    expect(broker.serviceMonitor.labels).toEqual(labels);
    expect(broker.prometheusRule.labels).toEqual(labels);
    expect(find(run, 'PodMonitor', 'postgres-pod-monitor').props.metadata.labels).toEqual(labels);
    // valkey 0.x reads metrics.serviceMonitor.extraLabels (its `additionalLabels` is read by no template).
    expect(find(run, 'Release', 'valkey').props.values.metrics.serviceMonitor).toEqual({
      enabled: true,
      extraLabels: labels,
    });
    // nats 1.x merges promExporter.podMonitor.merge into its PodMonitor.
    expect(find(run, 'Release', 'nats').props.values.promExporter.podMonitor).toEqual({
      enabled: true,
      merge: { metadata: { labels } },
    });
  };

  it('labels every monitor and rule (broker, CloudNativePG, Valkey, NATS) as the cluster stack says', async () => {
    clusterStacks.set('organization/ainp-cluster/byo', {
      kubeContext: 'ainp-staging',
      monitoringNamespace: 'observability',
      monitoringSelectorLabels: labels,
      cnpgOperator: '',
      prometheusStack: false,
    });
    const run = await runProgram(
      'staging',
      { ...stackConfig('staging'), 'ainp:clusterStack': 'organization/ainp-cluster/byo' },
      secretsFor('staging'),
      deploy,
    );
    expectLabelled(run);
    // The NetworkPolicy admits the cluster stack's monitoring namespace.
    expect(find(run, 'Release', 'broker').props.values.networkPolicy.monitoringNamespaceSelector).toEqual({
      'kubernetes.io/metadata.name': 'observability',
    });
  });

  it('without a cluster stack, from monitoringSelectorLabels; with one, refuses it set here', async () => {
    const { 'ainp:clusterStack': _omit, ...own } = stackConfig('local');
    const run = await runProgram(
      'local',
      { ...own, 'ainp:monitoringSelectorLabels': JSON.stringify(labels) },
      {},
      deploy,
    );
    expectLabelled(run);
    // The declared defaults reach the program too: only a value set here is refused.
    expect(
      parseStackConfig({
        clusterStack: 'organization/ainp-cluster/staging',
        monitoringSelectorLabels: '{}',
        monitoringNamespace: 'monitoring',
      }).ok,
    ).toBe(true);
    expect(
      parseStackConfig({
        clusterStack: 'organization/ainp-cluster/staging',
        monitoringSelectorLabels: '{"release":"prom"}',
        monitoringNamespace: 'observability',
      }),
    ).toEqual({
      ok: false,
      problems: [
        'monitoringNamespace: comes from the cluster stack organization/ainp-cluster/staging; set it there, not here',
        'monitoringSelectorLabels: comes from the cluster stack organization/ainp-cluster/staging; set it there, not here',
      ],
    });
  });
});

describe('the image is built for the platforms the stack names', () => {
  const image = (run: ProgramRun) => find(run, 'Image', 'broker-image').props;

  it('builds linux/amd64 and linux/arm64 into one pushed image by default, and deploys its digest', async () => {
    const run = await runProgram('staging', stackConfig('staging'), secretsFor('staging'), deploy);
    expect(image(run)).toMatchObject({
      platforms: ['linux/amd64', 'linux/arm64'],
      push: true,
      tags: ['ghcr.io/ainp/broker:staging-staging'],
      dockerfile: { location: expect.stringMatching(/\/Dockerfile$/) },
    });
    expect(run.outputs.imageRef).toBe(`ghcr.io/ainp/broker@${BUILT_DIGEST}`);
    expect(find(run, 'Release', 'broker').props.values.image.digest).toBe(BUILT_DIGEST);
  });

  it('takes the list from imagePlatforms, and refuses a platform the base image does not have', async () => {
    const run = await runProgram(
      'staging',
      { ...stackConfig('staging'), 'ainp:imagePlatforms': 'linux/arm64' },
      secretsFor('staging'),
      deploy,
    );
    expect(image(run).platforms).toEqual(['linux/arm64']);
    const bad = parseStackConfig({ imagePlatforms: 'linux/amd64,windows/amd64' });
    expect(bad).toEqual({
      ok: false,
      problems: [
        'imagePlatforms: must be a comma-separated list of distinct platforms from linux/amd64, linux/arm64 (not windows/amd64)',
      ],
    });
    expect(parseStackConfig({ imagePlatforms: 'linux/amd64,linux/amd64' }).ok).toBe(false);
  });
});

describe('the CloudNativePG objects are checked against the generated CRDs', () => {
  it('refuses an undeclared field and a wrong type, as the API server does', () => {
    const cluster = {
      apiVersion: 'postgresql.cnpg.io/v1',
      kind: 'Cluster',
      metadata: { name: 'db', namespace: 'x', annotations: { 'pulumi.com/waitFor': 'condition=Ready' } },
      spec: { instances: 1, storage: { size: '1Gi' } },
    };
    expect(() => validateCluster(cluster)).not.toThrow();
    expect(() => validateCluster({ ...cluster, spec: { ...cluster.spec, instancesCount: 2 } })).toThrow(
      '/spec must NOT have additional properties (instancesCount)',
    );
    expect(() => validateCluster({ ...cluster, spec: { ...cluster.spec, instances: 'one' } })).toThrow(
      '/spec/instances must be integer',
    );
  });
});

describe('promotion pins the image', () => {
  it('with imageDigest set, prod builds nothing and deploys exactly that digest', async () => {
    const digest = PROMOTED;
    const run = await runProgram('prod', promotedConfig('prod'), PROD_SECRETS, deploy);
    expect(run.resources.some((r) => r.type === 'docker-build:index:Image')).toBe(false);
    expect(find(run, 'Release', 'broker').props.values.image).toMatchObject({
      repository: 'ghcr.io/ainp/broker',
      digest,
    });
    expect(run.outputs.imageDigest).toBe(digest);
  });
});

describe('stack local under Pulumi mocks: every backing service external (bring your own services)', () => {
  const LOCAL_SECRETS = {
    databaseUrl: 'postgresql://ainp:pw@db.example:5432/ainp',
    redisUrl: 'redis://:pw@valkey.example:6379',
    natsUrl: 'nats://token@nats.example:4222',
    adminToken: 'operator-set-admin-token',
  };
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram('local', stackConfig('local'), LOCAL_SECRETS, deploy);
  });

  it('provisions no database, Valkey or NATS and needs neither @pulumi/random nor @pulumi/docker-build', () => {
    expect(
      run.resources
        .map((r) => (r.type.startsWith('ainp:platform:Platform') ? r.type : `${r.type}/${r.name}`))
        .sort(),
    ).toEqual(
      [
        'ainp:platform:Platform',
        'ainp:platform:Namespace/namespace',
        'kubernetes:core/v1:Namespace/namespace',
        'pulumi:pulumi:StackReference/cluster',
        'kubernetes:core/v1:Namespace/cluster-identity',
        // Its own last outputs: the namespace it deployed to (a change is refused).
        'pulumi:pulumi:StackReference/previous',
        'ainp:broker:Broker/broker',
        'kubernetes:core/v1:Secret/broker-env',
        'kubernetes:helm.sh/v3:Release/broker',
      ].sort(),
    );
  });

  it('hands the broker the external URLs and the admin token from the config secrets, as secrets', () => {
    const env = find(run, 'Secret', 'broker-env');
    expect(env.props.stringData).toEqual({
      DATABASE_URL: LOCAL_SECRETS.databaseUrl,
      REDIS_URL: LOCAL_SECRETS.redisUrl,
      NATS_URL: LOCAL_SECRETS.natsUrl,
      ADMIN_TOKEN: LOCAL_SECRETS.adminToken,
    });
    // The whole of stringData is a secret (each value is one, so the object is).
    expect(env.secretPaths).toEqual(['stringData']);
    expect(find(run, 'Release', 'broker').dependsOn).toEqual([expect.stringContaining('broker-env')]);
    expect(run.outputs.imageDigest).toBe(stackConfig('local')['ainp:imageDigest']);
  });
});

describe('a broken config stops the program with a ResourceError naming each problem', () => {
  const cases = [
    {
      stack: 'prod',
      config: { 'ainp:brokerReplicas': '2', 'ainp:pouK': '10', 'ainp:imageDigest': PROMOTED },
      secrets: PROD_SECRETS,
    },
    { stack: 'prod', config: { 'ainp:imageDigest': PROMOTED }, secrets: {} },
    {
      stack: 'staging',
      config: {
        'ainp:brokerReplica': '3',
        'ainp:finalizerCron': 'every minute',
        'ainp:imageDigest': 'latest',
      },
      secrets: {},
    },
    { stack: 'staging', config: { 'ainp:environment': 'prod' }, secrets: {} },
    { stack: 'staging', config: {}, secrets: {} },
    // Pulumi.prod.yaml as committed, before any promotion: no digest.
    { stack: 'prod', config: {}, secrets: PROD_SECRETS },
    // A shared stack that does not name its cluster would deploy to whatever context is current.
    {
      stack: 'prod',
      config: { 'ainp:imageDigest': PROMOTED, 'kubernetes:context': '' },
      secrets: PROD_SECRETS,
    },
    // A stack whose last update deployed to another namespace.
    { stack: 'staging', config: {}, secrets: {}, previousNamespace: 'ainp-staging-old' },
    // The same namespace as last time: an ordinary update.
    { stack: 'staging', config: {}, secrets: {}, previousNamespace: 'ainp-staging' },
    // Prod without data protection.
    {
      stack: 'prod',
      config: { 'ainp:imageDigest': PROMOTED, 'ainp:protectData': 'false' },
      secrets: PROD_SECRETS,
    },
  ];
  let results: { failed: boolean; resourceError: boolean; message: string }[];

  beforeAll(async () => {
    const input = cases.map((c) => ({ ...c, config: { ...stackConfig(c.stack), ...c.config } }));
    // Pulumi sets a failing exit code for the promises a failed program leaves behind: read stdout.
    const { stdout } = await exec(process.execPath, ['--import', 'tsx', 'test/helpers/broken-config.ts'], {
      env: { ...process.env, BROKEN_CASES: JSON.stringify(input) },
    }).catch((err: { stdout: string }) => err);
    results = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(results).toHaveLength(cases.length);
  });

  it('prod with two replicas and k above m', () => {
    const r = results[0]!;
    expect(r).toMatchObject({ failed: true, resourceError: true });
    expect(r.message).toContain('invalid config for stack prod');
    expect(r.message).toContain('brokerReplicas: prod runs at least 3 (got 2)');
    expect(r.message).toContain('pouK: k=10 must not exceed pouM m=9');
  });

  it('prod backups without the operator-set credentials', () => {
    expect(results[1]).toMatchObject({ failed: true, resourceError: true });
    expect(results[1]!.message).toContain(
      'postgresBackupAccessKeyId: required (pulumi config set --secret postgresBackupAccessKeyId)',
    );
  });

  it('a misspelt key, a bad cron, a non-digest imageDigest, a stack/environment mismatch', () => {
    const msg = results[2]!.message;
    expect(results[2]).toMatchObject({ failed: true, resourceError: true });
    expect(msg).toContain('brokerReplica: unknown config key');
    expect(msg).toContain('finalizerCron: must be a five-field cron expression');
    expect(msg).toContain('imageDigest: must be empty (build from source) or sha256:<64 hex>');
    expect(results[3]!.message).toContain('environment: stack staging must set environment: staging');
  });

  it('while the unchanged staging config runs through in the same harness', () => {
    expect(results[4]).toEqual({ failed: false, resourceError: false, message: '' });
  });

  it('prod without kubernetes:context: it names the cluster or it does not deploy', () => {
    expect(results[6]).toMatchObject({ failed: true, resourceError: true });
    expect(results[6]!.message).toContain(
      'kubernetes:context: stack prod must name the kubeconfig context of its cluster',
    );
    // The committed stack files name theirs (test/infra-config.test.ts): the run above passed.
    expect(results[4]!.failed).toBe(false);
  });

  it('refuses a namespace change on an existing stack (the old namespace would be deleted with its data)', () => {
    expect(results[7]).toMatchObject({ failed: true, resourceError: true });
    expect(results[7]!.message).toContain(
      'namespace: stack staging runs in ainp-staging-old; moving it to ainp-staging would delete ainp-staging-old ' +
        'and everything in it (the database and its volumes). Set namespace back to ainp-staging-old; to move, ' +
        'create a new stack for ainp-staging, move the data, then destroy this one',
    );
    expect(results[8]).toEqual({ failed: false, resourceError: false, message: '' });
  });

  it('prod without data protection', () => {
    expect(results[9]).toMatchObject({ failed: true, resourceError: true });
    expect(results[9]!.message).toContain("protectData: prod must be 'true'");
  });

  it('prod without a promoted digest: `pulumi up --stack prod` never builds, it says how to promote', () => {
    expect(results[5]).toMatchObject({ failed: true, resourceError: true });
    expect(results[5]!.message).toContain(
      'imageDigest: prod deploys only an image promoted from staging and never builds from source; run `npm run promote`',
    );
  });
});
