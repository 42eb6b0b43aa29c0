import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { clusterConfigSchema, parseClusterConfig } from '../infra/cluster-stack/config.js';
import { CLUSTER_PROJECT, deployCluster } from '../infra/cluster-stack/program.js';
import { deploy } from '../infra/program.js';
import { HELM, run as exec, type Manifest } from './helpers/k8s.js';
import { scratchDir } from './helpers/tmp.js';
import {
  clusterStacks,
  contextClusters,
  runProgram,
  stackConfig,
  type ProgramRun,
} from './helpers/pulumi.js';

/**
 * The cluster stack (infra/cluster-stack, project ainp-cluster) and the app stacks that name it,
 * under Pulumi's mocks: what each registers, and that staging and prod on one cluster never
 * create the same object (the cluster lane runs the same on a real API server).
 */
const DIR = 'infra/cluster-stack';
/** kube-prometheus-stack as packaged from its source (a copy of shared/ sits beside the clone). */
const KPS_CHART = path.resolve('..', 'shared', 'charts', 'kube-prometheus-stack-79.5.0.tgz');
const clusterFile = (stack: string) =>
  parse(readFileSync(`${DIR}/Pulumi.${stack}.yaml`, 'utf8')) as { config: Record<string, string> };
const PROD = {
  'ainp:imageDigest': `sha256:${'b'.repeat(64)}`,
};
/** What an operator sets as the cluster stack's secret: Alertmanager's configuration. */
const ALERTMANAGER_YAML = [
  'route: { receiver: oncall }',
  'receivers: [{ name: oncall, pagerduty_configs: [{ routing_key: operator-set-routing-key }] }]',
].join('\n');
const CLUSTER_SECRETS = { alertmanagerConfig: ALERTMANAGER_YAML };
const PROD_SECRETS = {
  postgresBackupAccessKeyId: 'operator-set-access-key-id',
  postgresBackupSecretAccessKey: 'operator-set-secret-access-key',
};

/**
 * Programs that must fail, each run in a child process (a failed Pulumi program leaves rejected
 * outputs behind): the cluster program without a context; the app program pointed at another
 * context's cluster stack, without a cluster stack, and with a key that moved.
 */
let broken: { failed: boolean; resourceError: boolean; message: string }[];
beforeAll(async () => {
  const { 'ainp:clusterStack': _omit, ...noCluster } = stackConfig('staging');
  const cases = [
    { stack: 'nocontext', config: {}, secrets: {}, project: CLUSTER_PROJECT },
    {
      stack: 'staging',
      config: { ...stackConfig('staging'), 'ainp:clusterStack': 'organization/ainp-cluster/prod' },
      secrets: {},
    },
    { stack: 'staging', config: noCluster, secrets: {} },
    {
      stack: 'staging',
      config: { ...stackConfig('staging'), 'ainp:monitoringInstallStack': 'true' },
      secrets: {},
    },
    {
      stack: 'staging',
      config: { ...stackConfig('staging'), 'ainp:clusterStack': 'organization/ainp-cluster/elsewhere' },
      secrets: {},
    },
    {
      stack: 'staging',
      config: { ...stackConfig('staging'), 'ainp:clusterStack': 'organization/ainp-cluster/legacy' },
      secrets: {},
    },
  ];
  // One process per case: a failed program's leftover rejections would land in the next case.
  broken = await Promise.all(
    cases.map(async (c) => {
      const { stdout } = await exec(process.execPath, ['--import', 'tsx', 'test/helpers/broken-config.ts'], {
        env: { ...process.env, BROKEN_CASES: JSON.stringify([c]) },
      }).catch((err: { stdout: string }) => err);
      return JSON.parse(stdout.trim().split('\n')[0]!) as (typeof broken)[number];
    }),
  );
  expect(broken).toHaveLength(cases.length);
});

/** Every Kubernetes object a run would create, as kind/namespace/name (a Helm release by its own name). */
function objects(run: ProgramRun): string[] {
  return run.resources
    .filter((r) => r.type.startsWith('kubernetes:') && !r.read)
    .map((r) => {
      const kind = r.type.split(':').pop()!;
      if (kind === 'Release') return `Release/${r.props.namespace}/${r.props.name}`;
      return `${kind}/${r.props.metadata?.namespace ?? ''}/${r.props.metadata?.name}`;
    });
}

describe('the cluster stack project', () => {
  it('declares in Pulumi.yaml exactly the keys config.ts reads, with the same defaults', () => {
    const project = parse(readFileSync(`${DIR}/Pulumi.yaml`, 'utf8')) as {
      name: string;
      main: string;
      config: Record<string, { type: string; default: unknown; description: string }>;
    };
    expect(project.name).toBe(CLUSTER_PROJECT);
    expect(project.main).toBe('index.ts');
    const keys = Object.keys(clusterConfigSchema.shape);
    expect(Object.keys(project.config).sort()).toEqual(keys.sort());
    for (const key of keys) {
      const schema = (clusterConfigSchema.shape as Record<string, { parse(v: unknown): unknown }>)[key]!;
      const def = schema.parse(undefined);
      expect(project.config[key]!.description, key).toBeTruthy();
      expect(project.config[key]!.type, key).toBe(typeof def === 'boolean' ? 'boolean' : 'string');
      expect(schema.parse(String(project.config[key]!.default)), key).toEqual(def);
    }
    for (const stack of ['staging', 'prod', 'local']) {
      const file = clusterFile(stack);
      expect(file.config['kubernetes:context'], stack).toBe(`ainp-${stack}`);
      const own = Object.fromEntries(
        Object.entries(file.config)
          .filter(([k]) => k.startsWith(`${CLUSTER_PROJECT}:`))
          .map(([k, v]) => [k.slice(CLUSTER_PROJECT.length + 1), v]),
      );
      // With the secret the operator sets (docs/RUNBOOK.md) where the stack installs Prometheus.
      expect(parseClusterConfig(own, new Set(['alertmanagerConfig'])).ok, stack).toBe(true);
    }
  });

  it('installs the CloudNativePG operator (retained on delete: every database on the cluster depends on it) and the Prometheus stack, once', async () => {
    const run = await runProgram(
      'staging',
      clusterFile('staging').config,
      CLUSTER_SECRETS,
      deployCluster,
      CLUSTER_PROJECT,
    );
    expect(objects(run).sort()).toEqual(
      [
        'Namespace//monitoring',
        'Secret/monitoring/ainp-alertmanager-config',
        'Release/cnpg-system/cnpg',
        'Release/monitoring/kube-prometheus-stack',
      ].sort(),
    );
    const cnpg = run.resources.find((r) => r.name === 'cnpg' && r.type.endsWith('Release'))!;
    expect(cnpg.retainOnDelete).toBe(true);
    expect(cnpg.props).toMatchObject({ chart: 'cloudnative-pg', version: '0.29.0', createNamespace: true });
    // With the Prometheus stack installed first, the operator's own PodMonitor has its CRD.
    expect(cnpg.props.values).toEqual({
      // The public operator image by default (cnpgOperatorImage), pulled if not present.
      image: {
        repository: 'ghcr.io/cloudnative-pg/cloudnative-pg',
        tag: '1.30.0',
        pullPolicy: 'IfNotPresent',
      },
      monitoring: { podMonitorEnabled: true },
    });
    expect(run.resources.find((r) => r.type === 'ainp:cluster:CnpgOperator')!.dependsOn).toEqual([
      'ainp:cluster:Monitoring::monitoring',
    ]);
    expect(run.outputs).toEqual({
      kubeContext: 'ainp-staging',
      // Its cluster's identity, read through its provider (the mocks give one per context name).
      clusterUid: 'kube-system-uid-of-ainp-staging',
      monitoringNamespace: 'monitoring',
      monitoringSelectorLabels: {},
      cnpgOperator: 'cnpg-system',
      prometheusStack: true,
    });
  });

  it('pages someone and keeps its history: Alertmanager from the stack secret, Prometheus on a sized volume, no managed control-plane scrapes', async () => {
    const run = await runProgram(
      'staging',
      clusterFile('staging').config,
      CLUSTER_SECRETS,
      deployCluster,
      CLUSTER_PROJECT,
    );
    const secret = run.resources.find((r) => r.type === 'kubernetes:core/v1:Secret')!;
    expect(secret.props.metadata).toEqual({ name: 'ainp-alertmanager-config', namespace: 'monitoring' });
    expect(secret.props.stringData).toEqual({ 'alertmanager.yaml': ALERTMANAGER_YAML });
    expect(secret.secretPaths).toContain('stringData');
    const release = run.resources.find((r) => r.name === 'monitoring' && r.type.endsWith('Release'))!;
    expect(release.dependsOn).toContain('kubernetes:core/v1:Secret::monitoring-alertmanager-config');
    const values = release.props.values;
    expect(JSON.stringify(values)).not.toContain('operator-set-routing-key');
    expect(values.alertmanager).toEqual({
      alertmanagerSpec: { useExistingSecret: true, configSecret: 'ainp-alertmanager-config' },
    });
    expect(values.prometheus.prometheusSpec).toMatchObject({
      retention: '15d',
      retentionSize: '42GB',
      storageSpec: {
        volumeClaimTemplate: {
          spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '50Gi' } } },
        },
      },
      resources: { requests: { cpu: '500m', memory: '2Gi' }, limits: { cpu: '2', memory: '4Gi' } },
    });
    for (const s of ['kubeControllerManager', 'kubeScheduler', 'kubeEtcd', 'kubeProxy'])
      expect(values[s], s).toEqual({ enabled: false });

    // What the chart makes of these values (rendered by the real helm, when the chart is at hand).
    if (!existsSync(KPS_CHART)) return;
    const dir = scratchDir('ainp-kps');
    writeFileSync(path.join(dir, 'values.json'), JSON.stringify(values));
    const { stdout } = await exec(
      HELM,
      [
        'template',
        'kube-prometheus-stack',
        KPS_CHART,
        '--namespace',
        'monitoring',
        '--kube-version',
        '1.30.0',
        '-f',
        path.join(dir, 'values.json'),
      ],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    const manifests = parseAllDocuments(stdout)
      .map((d) => d.toJS())
      .filter(Boolean) as Manifest[];
    const alertmanager = manifests.find((m) => m.kind === 'Alertmanager')!;
    expect(alertmanager.spec.configSecret).toBe('ainp-alertmanager-config');
    // The chart's own config (every alert to the `null` receiver) is not rendered.
    expect(manifests.filter((m) => m.kind === 'Secret' && /^alertmanager-/.test(m.metadata.name))).toEqual(
      [],
    );
    const prometheus = manifests.find((m) => m.kind === 'Prometheus')!;
    expect(prometheus.spec).toMatchObject({
      retentionSize: '42GB',
      storage: { volumeClaimTemplate: { spec: { resources: { requests: { storage: '50Gi' } } } } },
      resources: { requests: { memory: '2Gi' }, limits: { memory: '4Gi' } },
    });
    const alerts = manifests
      .filter((m) => m.kind === 'PrometheusRule')
      .flatMap((m) =>
        m.spec.groups.flatMap((g: { rules: { alert?: string }[] }) => g.rules.map((r) => r.alert)),
      );
    expect(alerts).toContain('KubeAPIDown');
    for (const a of ['KubeControllerManagerDown', 'KubeSchedulerDown', 'KubeProxyDown', 'etcdMembersDown'])
      expect(alerts, a).not.toContain(a);
  });

  it('scrapes the control plane when it is the cluster’s own, and refuses to install a stack that pages nobody', async () => {
    const run = await runProgram(
      'staging',
      {
        ...clusterFile('staging').config,
        'ainp-cluster:managedControlPlane': 'false',
        'ainp-cluster:prometheusStorageSize': '200Gi',
      },
      CLUSTER_SECRETS,
      deployCluster,
      CLUSTER_PROJECT,
    );
    const values = run.resources.find((r) => r.name === 'monitoring' && r.type.endsWith('Release'))!.props
      .values;
    for (const s of ['kubeControllerManager', 'kubeScheduler', 'kubeEtcd', 'kubeProxy'])
      expect(values[s], s).toEqual({ enabled: true });
    expect(values.prometheus.prometheusSpec.retentionSize).toBe('170GB');
    expect(parseClusterConfig({})).toEqual({
      ok: false,
      problems: [
        'alertmanagerConfig: required with monitoringInstallStack: Alertmanager\'s configuration with your receivers (pulumi config set --secret alertmanagerConfig --cwd infra/cluster-stack --stack <stack> < alertmanager.yaml; docs/RUNBOOK.md, "Alerts")',
      ],
    });
    expect(parseClusterConfig({}, new Set(['alertmanagerConfig'])).ok).toBe(true);
    // A cluster with its own Prometheus brings its own Alertmanager.
    expect(parseClusterConfig({ monitoringInstallStack: 'false' }).ok).toBe(true);
    expect(parseClusterConfig({ prometheusStorageSize: '500Mi' }, new Set(['alertmanagerConfig']))).toEqual({
      ok: false,
      problems: ['prometheusStorageSize: must be a whole number of Gi, such as 50Gi'],
    });
  });

  it('with the cluster’s own operators installs nothing and hands on their namespace and labels', async () => {
    const run = await runProgram(
      'byo',
      {
        'kubernetes:context': 'corp',
        'ainp-cluster:cnpgOperator': 'false',
        'ainp-cluster:monitoringInstallStack': 'false',
        'ainp-cluster:monitoringNamespace': 'observability',
        'ainp-cluster:monitoringSelectorLabels': '{"release":"prom"}',
      },
      {},
      deployCluster,
      CLUSTER_PROJECT,
    );
    expect(objects(run)).toEqual([]);
    expect(run.outputs).toMatchObject({
      kubeContext: 'corp',
      monitoringNamespace: 'observability',
      monitoringSelectorLabels: { release: 'prom' },
      cnpgOperator: '',
    });
  });

  it('refuses a cluster stack with no context, and labels for the Prometheus it installs itself', () => {
    expect(
      parseClusterConfig({ monitoringSelectorLabels: '{"release":"x"}', cnpgChartVersion: '1.0' }),
    ).toEqual({
      ok: false,
      problems: ['cnpgChartVersion: must be an exact chart version (x.y.z)'],
    });
    // The end-of-life operator (chart 0.26.1 = 1.27.1) and the one without barmanObjectStore.
    for (const v of ['0.26.1', '0.30.0'])
      expect(parseClusterConfig({ cnpgChartVersion: v })).toEqual({
        ok: false,
        problems: [
          'cnpgChartVersion: must be a 0.29.x version (operator 1.30): earlier charts run an operator past its end of life, and 0.30 (operator 1.31) drops the barmanObjectStore backups use',
        ],
      });
    expect(parseClusterConfig({ cnpgChartVersion: '0.29.0' }, new Set(['alertmanagerConfig'])).ok).toBe(true);
    expect(
      parseClusterConfig({ monitoringSelectorLabels: '{"release":"x"}' }, new Set(['alertmanagerConfig'])),
    ).toEqual({
      ok: false,
      problems: [
        'monitoringSelectorLabels: the Prometheus this stack installs selects every monitor; labels are for a Prometheus the cluster already runs (monitoringInstallStack: false)',
      ],
    });
    expect(broken[0]).toMatchObject({ failed: true, resourceError: true });
    expect(broken[0]!.message).toContain(
      'kubernetes:context: the cluster stack nocontext must name the kubeconfig context of its cluster',
    );
  });
});

describe('staging and prod on one cluster', () => {
  const SHARED = 'organization/ainp-cluster/shared';
  const onShared = (stack: 'staging' | 'prod') => ({
    ...stackConfig(stack),
    ...(stack === 'prod' ? PROD : {}),
    'kubernetes:context': 'shared',
    'ainp:clusterStack': SHARED,
  });

  it('create no object with the same kind, namespace and name, and none of the cluster stack’s', async () => {
    const cluster = await runProgram(
      'shared',
      { 'kubernetes:context': 'shared' },
      CLUSTER_SECRETS,
      deployCluster,
      CLUSTER_PROJECT,
    );
    clusterStacks.set(SHARED, cluster.outputs);
    const staging = await runProgram('staging', onShared('staging'), {}, deploy);
    const prod = await runProgram('prod', onShared('prod'), PROD_SECRETS, deploy);
    const [c, s, p] = [new Set(objects(cluster)), new Set(objects(staging)), new Set(objects(prod))];
    expect(s.size).toBeGreaterThan(5);
    expect(p.size).toBeGreaterThan(5);
    expect([...s].filter((o) => p.has(o))).toEqual([]);
    expect([...s, ...p].filter((o) => c.has(o))).toEqual([]);
    // Neither app stack installs an operator or a Prometheus: those are the cluster stack's.
    for (const run of [staging, prod])
      expect(objects(run).filter((o) => /cnpg-system|kube-prometheus-stack|\/monitoring\//.test(o))).toEqual(
        [],
      );
  });

  it('an app stack pointed at the cluster stack of another cluster fails before it creates anything', () => {
    expect(broken[1]!.failed).toBe(true);
    expect(broken[1]!.message).toContain(
      'clusterStack: organization/ainp-cluster/prod manages the cluster whose kube-system namespace has UID ' +
        'kube-system-uid-of-ainp-prod, but kubernetes:context "ainp-staging" reaches a cluster whose kube-system ' +
        'has UID kube-system-uid-of-ainp-staging; name the cluster stack of the cluster this stack deploys to',
    );
  });

  it('clusters are compared, not context names: the same name on another cluster fails (issue 34, item 16)', () => {
    expect(broken[4]!.failed).toBe(true);
    expect(broken[4]!.message).toContain(
      'clusterStack: organization/ainp-cluster/elsewhere manages the cluster whose kube-system namespace has UID ' +
        'kube-system-uid-of-another-cluster, but kubernetes:context "ainp-staging" reaches a cluster whose ' +
        'kube-system has UID kube-system-uid-of-ainp-staging',
    );
  });

  it('a cluster stack that recorded no identity yet is compared by its context name', () => {
    expect(broken[5]!.failed).toBe(true);
    expect(broken[5]!.message).toContain(
      'clusterStack: organization/ainp-cluster/legacy manages kubeconfig context "ainp-prod", but this stack deploys to "ainp-staging" (kubernetes:context)',
    );
  });

  it('and another machine’s name for the same cluster deploys (its kube-system UID is the same)', async () => {
    contextClusters.set('prod-eks-laptop', 'kube-system-uid-of-ainp-prod');
    try {
      const run = await runProgram(
        'prod',
        { ...stackConfig('prod'), ...PROD, 'kubernetes:context': 'prod-eks-laptop' },
        PROD_SECRETS,
        deploy,
      );
      expect(objects(run)).toContain('Namespace//ainp-prod');
    } finally {
      contextClusters.delete('prod-eks-laptop');
    }
  });

  it('staging and prod must name their cluster stack; the keys that moved there are pointed to', () => {
    expect(broken[2]).toMatchObject({ failed: true, resourceError: true });
    expect(broken[2]!.message).toContain(
      'clusterStack: stack staging must name the cluster stack of its cluster',
    );
    expect(broken[3]).toMatchObject({ failed: true, resourceError: true });
    expect(broken[3]!.message).toContain(
      'monitoringInstallStack: moved to the cluster stack (infra/cluster-stack, project ainp-cluster); remove it here and set it there',
    );
  });
});
