import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { clusterConfigSchema, parseClusterConfig } from '../infra/cluster-stack/config.js';
import { CLUSTER_PROJECT, deployCluster } from '../infra/cluster-stack/program.js';
import { configSchema, parseImageRef, parseStackConfig, type Toleration } from '../infra/config.js';
import { deploy } from '../infra/program.js';
import { gateJobManifests } from '../infra/ops/gate-job.js';
import { crdValidator } from './helpers/crd.js';
import { HELM, run as exec, type Manifest } from './helpers/k8s.js';
import { runProgram, stackConfig, type Captured, type ProgramRun } from './helpers/pulumi.js';
import { scratchDir } from './helpers/tmp.js';

/**
 * Every image the stacks deploy is stack config (issue 32): a private mirror or an air-gapped
 * cluster (and the cluster lane's real node) points each at its own copy, and each reaches what
 * the cluster pulls. Under Pulumi's mocks; the Valkey, NATS and CloudNativePG charts (as packaged
 * from their sources, beside the clone) rendered by the real helm with the values the program computed.
 */
/** The charts as packaged from their sources, vendored for the node lane (test/cluster/charts/README.md). */
const CHARTS = path.resolve('test/cluster/charts');
const D = (c: string) => `sha256:${c.repeat(64)}`;
const MIRROR = {
  'ainp:valkeyImage': `mirror.example:5000/valkey/valkey:9.0.2@${D('1')}`,
  'ainp:valkeyExporterImage': 'mirror.example:5000/oliver006/redis_exporter:v1.79.0',
  'ainp:natsImage': `mirror.example:5000/nats@${D('2')}`,
  'ainp:natsReloaderImage': 'mirror.example:5000/natsio/nats-server-config-reloader:0.20.1',
  'ainp:natsExporterImage': 'mirror.example:5000/natsio/prometheus-nats-exporter:0.17.3',
  'ainp:postgresImage': `mirror.example:5000/cloudnative-pg/postgresql:16.15@${D('3')}`,
  'ainp:imageRepository': 'mirror.example:5000/ainp/broker',
  'ainp:imageDigest': D('4'),
  'ainp:imagePullPolicy': 'Never',
  'ainp:chartDirectory': '/srv/charts',
};
/** Every generated credential set: no @pulumi/random (the lane's node stack runs so). */
const SECRETS = {
  postgresPassword: 'operator-set-postgres-password',
  valkeyPassword: 'operator-set-valkey-password',
  natsToken: 'operator-set-nats-token',
  adminToken: 'operator-set-admin-token',
};
const validateCluster = crdValidator('postgresql.cnpg.io_clusters.yaml');
const find = (run: ProgramRun, type: string, name: string): Captured =>
  run.resources.find((x) => x.type.endsWith(type) && x.name === name)!;

/** Every container and init container of what `helm template` renders, with its image and pull policy. */
async function renderedImages(release: string, tgz: string, values: unknown, ns: string) {
  return (await renderedWorkloads(release, tgz, values, ns)).flatMap((m) =>
    [...(m.spec.template.spec.initContainers ?? []), ...m.spec.template.spec.containers].map(
      (c: {
        name: string;
        image: string;
        imagePullPolicy?: string;
        env?: { name: string; value?: string }[];
      }) => ({
        name: c.name,
        image: c.image,
        pullPolicy: c.imagePullPolicy,
        env: Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value])),
      }),
    ),
  );
}

/** The Deployments and StatefulSets `helm template` renders from a vendored chart with `values`. */
async function renderedWorkloads(release: string, tgz: string, values: unknown, ns: string) {
  const dir = scratchDir(`ainp-images-${release}`);
  writeFileSync(path.join(dir, 'values.json'), JSON.stringify(values));
  const { stdout } = await exec(
    HELM,
    [
      'template',
      release,
      path.join(CHARTS, tgz),
      '--namespace',
      ns,
      '--kube-version',
      '1.34.4',
      '-f',
      path.join(dir, 'values.json'),
    ],
    { maxBuffer: 20 * 1024 * 1024 },
  );
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as Manifest)
    .filter((m) => m && ['Deployment', 'StatefulSet'].includes(m.kind));
}

describe('the images the app stack deploys are stack config', () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram('staging', { ...stackConfig('staging'), ...MIRROR }, SECRETS, deploy);
  });

  it('splits references into repository, tag and digest (a registry port stays in the repository)', () => {
    expect(parseImageRef('mirror.example:5000/valkey/valkey:9.0.2')).toEqual({
      repository: 'mirror.example:5000/valkey/valkey',
      tag: '9.0.2',
    });
    expect(parseImageRef(`nats@${D('a')}`)).toEqual({ repository: 'nats', digest: D('a') });
    expect(parseImageRef(`localhost/ainp/k6:abc@${D('b')}`)).toEqual({
      repository: 'localhost/ainp/k6',
      tag: 'abc',
      digest: D('b'),
    });
    for (const bad of ['nats', 'mirror.example:5000/nats', 'Nats:1', 'nats:1@sha256:short', 'nats:'])
      expect([bad, parseImageRef(bad)]).toEqual([bad, undefined]);
  });

  it('hands Valkey, its exporter, NATS, its reloader and exporter, PostgreSQL and the broker their images and pull policy', () => {
    const valkey = find(run, 'Release', 'valkey').props.values;
    expect(valkey.image).toEqual({
      registry: '',
      repository: 'mirror.example:5000/valkey/valkey',
      tag: `9.0.2@${D('1')}`,
      pullPolicy: 'Never',
    });
    expect(valkey.metrics.exporter.image).toEqual({
      registry: '',
      repository: 'mirror.example:5000/oliver006/redis_exporter',
      tag: 'v1.79.0',
      pullPolicy: 'Never',
    });
    const nats = find(run, 'Release', 'nats').props.values;
    expect([nats.container.image, nats.reloader.image, nats.promExporter.image, nats.global]).toEqual([
      { fullImageName: MIRROR['ainp:natsImage'] },
      { fullImageName: MIRROR['ainp:natsReloaderImage'] },
      { fullImageName: MIRROR['ainp:natsExporterImage'] },
      { image: { pullPolicy: 'Never' } },
    ]);
    expect(nats.natsBox).toEqual({ enabled: false });
    const cluster = find(run, 'Cluster', 'postgres-cluster').props.spec;
    expect([cluster.imageName, cluster.imagePullPolicy]).toEqual([MIRROR['ainp:postgresImage'], 'Never']);
    expect(find(run, 'Release', 'broker').props.values.image).toEqual({
      repository: 'mirror.example:5000/ainp/broker',
      digest: D('4'),
      pullPolicy: 'Never',
    });
  });

  it('installs the Valkey and NATS charts from chartDirectory, and generates no credential that is set', () => {
    for (const [name, tgz] of [
      ['valkey', 'valkey-0.9.4.tgz'],
      ['nats', 'nats-1.3.16.tgz'],
    ]) {
      const props = find(run, 'Release', name!).props;
      expect(props.chart).toBe(`/srv/charts/${tgz}`);
      expect(props).not.toHaveProperty('repositoryOpts');
    }
    expect(run.resources.filter((r) => r.type.startsWith('random:'))).toEqual([]);
    expect(find(run, 'Secret', 'valkey-users').props.stringData).toEqual({ default: SECRETS.valkeyPassword });
    expect(find(run, 'Secret', 'nats-auth').props.stringData).toEqual({ token: SECRETS.natsToken });
    expect(find(run, 'Secret', 'postgres-app').props.stringData).toEqual({
      username: 'ainp',
      password: SECRETS.postgresPassword,
    });
    for (const s of ['valkey-users', 'nats-auth', 'postgres-app'])
      expect(find(run, 'Secret', s).secretPaths, s).toEqual(['stringData']);
  });

  it('the Valkey and NATS charts render exactly those images, pulled as the stack says', async () => {
    const valkey = await renderedImages(
      'ainp-valkey',
      'valkey-0.9.4.tgz',
      find(run, 'Release', 'valkey').props.values,
      'ns',
    );
    expect(new Set(valkey.map((c) => c.image))).toEqual(
      new Set([MIRROR['ainp:valkeyImage'], MIRROR['ainp:valkeyExporterImage']]),
    );
    const nats = await renderedImages(
      'ainp-nats',
      'nats-1.3.16.tgz',
      find(run, 'Release', 'nats').props.values,
      'ns',
    );
    expect(nats.map((c) => c.image).sort()).toEqual(
      [MIRROR['ainp:natsImage'], MIRROR['ainp:natsReloaderImage'], MIRROR['ainp:natsExporterImage']].sort(),
    );
    for (const c of [...valkey, ...nats]) expect([c.name, c.pullPolicy]).toEqual([c.name, 'Never']);
  });

  it('the committed stacks keep the public images, pulled if not present, charts from their repositories', () => {
    const defaults = configSchema.parse({});
    const keys = [
      'valkeyImage',
      'valkeyExporterImage',
      'natsImage',
      'natsReloaderImage',
      'natsExporterImage',
      'postgresImage',
      'imagePullPolicy',
      'chartDirectory',
    ] as const;
    for (const stack of ['staging', 'prod', 'local']) {
      const file = parse(readFileSync(`Pulumi.${stack}.yaml`, 'utf8')) as { config: Record<string, unknown> };
      for (const k of keys) expect([stack, file.config[`ainp:${k}`]]).toEqual([stack, undefined]);
    }
    expect(defaults.valkeyImage).toBe('docker.io/valkey/valkey:9.0.2');
    expect(defaults.natsImage).toBe('nats:2.11.10-alpine');
    expect(defaults.postgresImage).toMatch(
      /^ghcr\.io\/cloudnative-pg\/postgresql:16\.15-.*@sha256:[0-9a-f]{64}$/,
    );
    expect([defaults.imagePullPolicy, defaults.chartDirectory]).toEqual(['IfNotPresent', '']);
  });

  it('refuses a reference with neither tag nor digest, a digest alone where the chart needs a tag, an unknown pull policy, a relative chart folder', () => {
    const result = parseStackConfig({
      natsImage: 'nats',
      valkeyImage: `docker.io/valkey/valkey@${D('1')}`,
      postgresImage: 'ghcr.io/x/postgresql:16@sha256:1234',
      imagePullPolicy: 'Sometimes',
      chartDirectory: 'charts',
    });
    expect(result.ok).toBe(false);
    const problems = result.ok ? [] : result.problems;
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^natsImage: must be an image reference with a tag or a digest/),
        expect.stringMatching(/^valkeyImage: needs a tag .*the chart renders repository:tag/),
        expect.stringMatching(/^postgresImage: must be an image reference/),
        expect.stringMatching(/^imagePullPolicy: /),
        expect.stringMatching(
          /^chartDirectory: must be empty \(chart repositories\) or an absolute folder path/,
        ),
      ]),
    );
    expect(problems).toHaveLength(5);
  });
});

describe('a dedicated node pool: nodeSelector and tolerations', () => {
  const POOL = { pool: 'ainp' };
  const TOLERATE: Toleration[] = [
    { key: 'dedicated', operator: 'Equal', value: 'ainp', effect: 'NoSchedule' },
  ];
  const scheduling = {
    'ainp:nodeSelector': JSON.stringify(POOL),
    'ainp:tolerations': JSON.stringify(TOLERATE),
  };
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram('staging', { ...stackConfig('staging'), ...scheduling }, SECRETS, deploy);
  });

  it('puts every pod of the stack there: broker (API, Jobs), PostgreSQL, Valkey and NATS as rendered', async () => {
    const broker = find(run, 'Release', 'broker').props.values;
    expect([broker.nodeSelector, broker.tolerations]).toEqual([POOL, TOLERATE]);
    const affinity = find(run, 'Cluster', 'postgres-cluster').props.spec.affinity;
    expect([affinity.nodeSelector, affinity.tolerations]).toEqual([POOL, TOLERATE]);
    // As the API server would take it (the CRD generated from CloudNativePG 1.30's Go types).
    validateCluster(find(run, 'Cluster', 'postgres-cluster').props);
    for (const [release, tgz] of [
      ['valkey', 'valkey-0.9.4.tgz'],
      ['nats', 'nats-1.3.16.tgz'],
    ] as const) {
      const pods = await renderedWorkloads(release, tgz, find(run, 'Release', release).props.values, 'ns');
      expect(pods.length, release).toBeGreaterThan(0);
      for (const p of pods)
        expect([release, p.spec.template.spec.nodeSelector, p.spec.template.spec.tolerations]).toEqual([
          release,
          POOL,
          TOLERATE,
        ]);
    }
  });

  it('and the in-cluster gate Job beside the broker', () => {
    const job = gateJobManifests({
      namespace: 'ns',
      release: 'ainp-broker',
      secret: 'env',
      image: `grafana/k6@${D('6')}`,
      script: 'smoke',
      runId: 't',
      scheduling: { nodeSelector: POOL, tolerations: TOLERATE },
    })[1] as Manifest;
    expect([job.spec.template.spec.nodeSelector, job.spec.template.spec.tolerations]).toEqual([
      POOL,
      TOLERATE,
    ]);
  });

  it('renders nothing of them when unset, and refuses a malformed value by name', () => {
    const plain = configSchema.parse({});
    expect([plain.nodeSelector, plain.tolerations]).toEqual([{}, []]);
    const r = parseStackConfig({ tolerations: '[{"key":"a","effect":"Sometimes"}]', nodeSelector: '["a"]' });
    expect(r.ok ? [] : r.problems).toEqual([
      expect.stringMatching(/^nodeSelector: must be a JSON object of string values/),
      expect.stringMatching(/^tolerations: must be a JSON array of tolerations/),
    ]);
  });
});

describe('the charts vendored for the node lane', () => {
  it('are the versions the stacks pin, byte for byte as SHA256SUMS says', () => {
    const sums = readFileSync(path.join(CHARTS, 'SHA256SUMS'), 'utf8').trim().split('\n');
    const listed = sums.map((l) => l.split(/\s+/)[1]).sort();
    const app = configSchema.parse({});
    const cluster = clusterConfigSchema.parse({});
    expect(listed).toEqual(
      [
        `cloudnative-pg-${cluster.cnpgChartVersion}.tgz`,
        `nats-${app.natsChartVersion}.tgz`,
        `valkey-${app.valkeyChartVersion}.tgz`,
      ].sort(),
    );
    for (const line of sums) {
      const [sum, file] = line.split(/\s+/);
      const actual = createHash('sha256')
        .update(readFileSync(path.join(CHARTS, file!)))
        .digest('hex');
      expect([file, actual]).toEqual([file, sum]);
    }
    for (const l of ['valkey-helm', 'nats-io-k8s', 'cloudnative-pg-charts'])
      expect(existsSync(path.join(CHARTS, 'licenses', `${l}.LICENSE`)), l).toBe(true);
  });
});

describe('without monitoring, no exporter', () => {
  it('runs neither the Valkey nor the NATS exporter when nothing scrapes them (monitoringEnabled false)', async () => {
    const run = await runProgram(
      'lane',
      { ...stackConfig('staging'), 'ainp:monitoringEnabled': 'false' },
      SECRETS,
      deploy,
    );
    expect(find(run, 'Release', 'valkey').props.values.metrics.enabled).toBe(false);
    expect(find(run, 'Release', 'nats').props.values.promExporter.enabled).toBe(false);
  });
});

describe('the CloudNativePG operator image is the cluster stack’s config', () => {
  const file = parse(readFileSync('infra/cluster-stack/Pulumi.staging.yaml', 'utf8')) as {
    config: Record<string, string>;
  };
  const IMAGE = `mirror.example:5000/cloudnative-pg/cloudnative-pg:1.30.0@${D('5')}`;
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgram(
      'staging',
      {
        ...file.config,
        'ainp-cluster:cnpgOperatorImage': IMAGE,
        'ainp-cluster:imagePullPolicy': 'Never',
        'ainp-cluster:chartDirectory': '/srv/charts',
        'ainp-cluster:nodeSelector': '{"pool":"ainp"}',
        'ainp-cluster:tolerations': '[{"key":"dedicated","operator":"Exists"}]',
        // Only the operator: kube-prometheus-stack would need the Alertmanager secret.
        'ainp-cluster:monitoringInstallStack': 'false',
      },
      {},
      deployCluster,
      CLUSTER_PROJECT,
    );
  });

  it('installs the operator from chartDirectory with that image and pull policy', () => {
    const cnpg = run.resources.find((r) => r.name === 'cnpg' && r.type.endsWith('Release'))!.props;
    expect(cnpg.chart).toBe('/srv/charts/cloudnative-pg-0.29.0.tgz');
    expect(cnpg.values.image).toEqual({
      repository: 'mirror.example:5000/cloudnative-pg/cloudnative-pg',
      tag: `1.30.0@${D('5')}`,
      pullPolicy: 'Never',
    });
    expect(clusterConfigSchema.parse({}).cnpgOperatorImage).toBe(
      'ghcr.io/cloudnative-pg/cloudnative-pg:1.30.0',
    );
    expect(file.config['ainp-cluster:cnpgOperatorImage']).toBeUndefined();
  });

  it('the chart runs that image and hands it to every PostgreSQL pod as the instance manager', async () => {
    const cnpg = run.resources.find((r) => r.name === 'cnpg' && r.type.endsWith('Release'))!.props;
    const containers = await renderedImages('cnpg', 'cloudnative-pg-0.29.0.tgz', cnpg.values, 'cnpg-system');
    expect(containers.map((c) => [c.image, c.pullPolicy])).toEqual([[IMAGE, 'Never']]);
    expect(containers[0]!.env.OPERATOR_IMAGE_NAME).toBe(IMAGE);
  });

  it('refuses an operator image without a tag', () => {
    const r = parseClusterConfig({ cnpgOperatorImage: `ghcr.io/cloudnative-pg/cloudnative-pg@${D('5')}` });
    expect(r.ok ? [] : r.problems).toEqual([
      expect.stringMatching(/^cnpgOperatorImage: needs a tag .*the chart renders repository:tag/),
    ]);
  });
});
