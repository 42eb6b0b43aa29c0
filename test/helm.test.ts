import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { CHART, HELM, KUBE, renderChart, run, validateManifest, type Manifest } from './helpers/k8s.js';
import { scratchDir } from './helpers/tmp.js';

/**
 * The chart, rendered by the real helm (built by scripts/tools.sh), every manifest validated
 * against the Kubernetes schemas (kubernetes-models, and the Prometheus operator models).
 */
async function renderError(args: string[]): Promise<string> {
  try {
    await renderChart(args);
  } catch (err) {
    return String((err as { stderr?: string }).stderr ?? err);
  }
  throw new Error(`rendering with ${args.join(' ')} should have failed`);
}

const byKind = (ms: Manifest[], kind: string) => ms.filter((m) => m.kind === kind);
const one = (ms: Manifest[], kind: string) => {
  const found = byKind(ms, kind);
  expect(found, kind).toHaveLength(1);
  return found[0]!;
};

beforeAll(() => {
  if (!existsSync(HELM)) throw new Error('helm is not built: run scripts/tools.sh helm (npm test does)');
});

describe('helm lint', () => {
  it.each([[[]], [['-f', 'helm/ci/staging-values.yaml']], [['-f', 'helm/ci/prod-values.yaml']]])(
    'passes with %j',
    async (args) => {
      const { stdout } = await run(HELM, ['lint', CHART, '--strict', '--kube-version', KUBE, ...args]);
      expect(stdout).toContain('0 chart(s) failed');
    },
  );
});

describe.each([
  ['default', []],
  ['staging-like', ['-f', 'helm/ci/staging-values.yaml']],
  ['prod-like', ['-f', 'helm/ci/prod-values.yaml']],
])('helm template (%s values)', (_name, args) => {
  let ms: Manifest[];
  beforeAll(async () => {
    ms = await renderChart(args);
  });

  it('renders only manifests valid against the Kubernetes schemas', async () => {
    expect(ms.length).toBeGreaterThanOrEqual(10);
    for (const m of ms) await validateManifest(m);
  });

  it('runs the broker non-root on a read-only root filesystem with probes, limits and a drain', () => {
    const d = one(ms, 'Deployment');
    const pod = d.spec.template.spec;
    const c = pod.containers[0];
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 10001,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(c.readinessProbe.httpGet.path).toBe('/ready');
    expect(c.livenessProbe.httpGet.path).toBe('/live');
    expect(c.startupProbe.httpGet.path).toBe('/live');
    expect(c.resources.requests).toHaveProperty('cpu');
    expect(c.resources.limits).toHaveProperty('memory');
    expect(c.lifecycle.preStop.exec.command).toEqual(['sleep', '5']);
    // Grace period covers the preStop sleep and the app's drain bound (SHUTDOWN_TIMEOUT_MS).
    const drainMs = Number(c.env.find((e: any) => e.name === 'SHUTDOWN_TIMEOUT_MS').value);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(5 + drainMs / 1000);
    expect(pod.topologySpreadConstraints.map((t: any) => t.topologyKey)).toEqual([
      'kubernetes.io/hostname',
      'topology.kubernetes.io/zone',
    ]);
    expect(c.image).not.toMatch(/:latest$/);
    expect(pod.automountServiceAccountToken).toBe(false);
    // Behind the ingress controller: one proxy hop, so limits count clients, not the controller.
    expect(c.env.find((e: any) => e.name === 'TRUST_PROXY').value).toBe('1');
    // /metrics on its own port: scraped there, absent from the API port the Ingress routes to.
    expect(c.env.find((e: any) => e.name === 'METRICS_PORT').value).toBe('9464');
    expect(c.ports.map((p: any) => [p.name, p.containerPort])).toEqual([
      ['http', 8080],
      ['metrics', 9464],
    ]);
    expect(one(ms, 'ServiceMonitor').spec.endpoints[0]).toMatchObject({ port: 'metrics', path: '/metrics' });
  });

  it('takes every credential from a Secret, never from a rendered value', () => {
    for (const m of ms.filter((x) => ['Deployment', 'Job', 'CronJob'].includes(x.kind))) {
      const spec = m.kind === 'CronJob' ? m.spec.jobTemplate.spec.template.spec : m.spec.template.spec;
      const env = spec.containers[0].env as any[];
      for (const key of ['DATABASE_URL', 'REDIS_URL', 'NATS_URL', 'ADMIN_TOKEN']) {
        const e = env.find((x) => x.name === key);
        expect(e.valueFrom.secretKeyRef.key, `${m.kind} ${key}`).toBe(key);
        expect(e.value).toBeUndefined();
      }
    }
    expect(byKind(ms, 'Secret')).toHaveLength(0);
  });

  it('migrates in a pre-install/pre-upgrade hook Job before the rollout', () => {
    const job = one(ms, 'Job');
    expect(job.metadata.annotations!['helm.sh/hook']).toBe('pre-install,pre-upgrade');
    expect(job.spec.template.spec.containers[0].args).toEqual(['migrate', 'up']);
    expect(job.spec.template.spec.restartPolicy).toBe('Never');
  });

  it('runs each periodic job as a CronJob with Forbid, history limits and deadlines', () => {
    const crons = byKind(ms, 'CronJob');
    expect(crons.length).toBeGreaterThanOrEqual(1);
    for (const c of crons) {
      expect(c.spec).toMatchObject({
        concurrencyPolicy: 'Forbid',
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: 3,
      });
      expect(c.spec.startingDeadlineSeconds).toBeGreaterThan(0);
      expect(c.spec.jobTemplate.spec.activeDeadlineSeconds).toBeGreaterThan(0);
      expect(c.spec.jobTemplate.spec.template.spec.containers[0].args[0]).toBe('job');
    }
  });

  it('limits traffic with a NetworkPolicy, keeps pods through drains, and scales', () => {
    const np = one(ms, 'NetworkPolicy');
    expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(np.spec.ingress[0].ports).toEqual([{ port: 8080, protocol: 'TCP' }]);
    expect(np.spec.egress.flatMap((e: any) => e.ports.map((p: any) => p.port)).sort()).toEqual(
      [4222, 53, 53, 5432, 6379].sort(),
    );
    expect(one(ms, 'PodDisruptionBudget').spec.minAvailable).toBeGreaterThanOrEqual(1);
    expect(one(ms, 'HorizontalPodAutoscaler').spec.minReplicas).toBeGreaterThanOrEqual(2);
  });

  it('ships monitoring: ServiceMonitor, alert rules for each SLO, a dashboard', () => {
    expect(one(ms, 'ServiceMonitor').spec.endpoints[0].path).toBe('/metrics');
    const alerts = one(ms, 'PrometheusRule').spec.groups[0].rules.map((r: any) => r.alert);
    expect(alerts).toEqual(
      expect.arrayContaining([
        'AinpHighErrorRate',
        'AinpHighLatencyP95',
        'AinpPendingReceiptsStuck',
        'AinpJobStaleFinalizer',
        'AinpJobNeverSucceededFinalizer',
        'AinpDatabaseErrors',
        'AinpLedgerImbalance',
      ]),
    );
    const rules = one(ms, 'PrometheusRule').spec.groups[0].rules as any[];
    for (const r of rules) {
      // Absolute, so a pager's link works outside the repository.
      expect(r.annotations.runbook_url, r.alert).toMatch(/^https:\/\/.+#ainp[a-z0-9]+$/);
      // Nothing pages on an absent series within the first hour after an install.
      if (/absent\(/.test(r.expr))
        expect(Number(String(r.for).replace(/s$/, '')), r.alert).toBeGreaterThanOrEqual(3600);
    }
    const dashboard = byKind(ms, 'ConfigMap').find((c) => c.metadata.name.endsWith('-dashboard'))!;
    expect(JSON.parse(dashboard.data['ainp-broker.json']).panels.length).toBeGreaterThanOrEqual(5);
  });
});

const KUBE_SCORE = path.resolve('.tools/bin/kube-score');

/** kube-score on rendered output: every default check, two optional ones, and the justified ignores. */
async function kubeScore(args: string[]): Promise<{ code: number; problems: string[] }> {
  const { stdout: rendered } = await run(HELM, ['template', 'rel', CHART, '--kube-version', KUBE, ...args], {
    maxBuffer: 20 * 1024 * 1024,
  });
  const ignores = readFileSync('helm/kube-score-ignores.txt', 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .flatMap((l) => ['--ignore-test', l.split(/\s+/)[0]!]);
  const optional = [
    '--enable-optional-test',
    'container-seccomp-profile',
    '--enable-optional-test',
    'container-ports-check',
  ];
  const child = execFile(KUBE_SCORE, ['score', '-', '--output-format', 'ci', ...ignores, ...optional]);
  child.stdin!.end(rendered);
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
  return { code, problems: out.split('\n').filter((l) => /^\[(CRITICAL|WARNING)\]/.test(l)) };
}

describe('kube-score', () => {
  it.each([[[]], [['-f', 'helm/ci/staging-values.yaml']], [['-f', 'helm/ci/prod-values.yaml']]])(
    'passes on the output of %j',
    async (args) => {
      const { code, problems } = await kubeScore(args);
      expect(problems).toEqual([]);
      expect(code).toBe(0);
    },
  );

  it('fails when a check is broken (pods without a NetworkPolicy)', async () => {
    const { code, problems } = await kubeScore(['--set', 'networkPolicy.enabled=false']);
    expect(code).not.toBe(0);
    expect(problems.join('\n')).toMatch(/NetworkPolicy/);
  });
});

describe('schema validation', () => {
  it('catches an invalid manifest (the check can fail)', async () => {
    const [d] = byKind(await renderChart(), 'Deployment');
    await expect(validateManifest({ ...d!, spec: { ...d!.spec, replicas: 'three' } })).rejects.toThrow(
      /replicas/,
    );
  });
});

describe('stack differences', () => {
  it('prod: three or more replicas, finalizer every 5 minutes, k=5 m=9; staging: every minute, k=3 m=5', async () => {
    const prod = await renderChart(['-f', 'helm/ci/prod-values.yaml']);
    const staging = await renderChart(['-f', 'helm/ci/staging-values.yaml']);
    const env = (ms: Manifest[]) =>
      Object.fromEntries(
        one(ms, 'Deployment')
          .spec.template.spec.containers[0].env.filter((e: any) => 'value' in e)
          .map((e: any) => [e.name, e.value]),
      );
    expect(one(prod, 'HorizontalPodAutoscaler').spec.minReplicas).toBeGreaterThanOrEqual(3);
    const finalizer = (ms: Manifest[]) =>
      byKind(ms, 'CronJob').find((c) => c.metadata.name.endsWith('-finalizer'))!;
    expect(finalizer(prod).spec.schedule).toBe('*/5 * * * *');
    expect(env(prod)).toMatchObject({ POU_K: '5', POU_M: '9' });
    expect(finalizer(staging).spec.schedule).toBe('*/1 * * * *');
    // Credits stay off unless enabled; the aggregator runs hourly everywhere.
    expect(
      byKind(prod, 'CronJob')
        .map((c) => c.metadata.name)
        .sort(),
    ).toEqual(['rel-ainp-broker-aggregator', 'rel-ainp-broker-finalizer']);
    expect(env(staging)).toMatchObject({ POU_K: '3', POU_M: '5' });
    expect(one(prod, 'Ingress').spec.tls[0].secretName).toBe('broker-tls');
    // The Ingress routes to the API port only; /metrics lives on the metrics port.
    expect(one(prod, 'Ingress').spec.rules[0].http.paths[0].backend.service.port).toEqual({ name: 'http' });
  });
});

describe('Gateway API', () => {
  it('routes the host to the Service through an HTTPRoute attached to the named Gateway listener', async () => {
    const ms = await renderChart(
      [
        '--set',
        'httpRoute.enabled=true',
        '--set',
        'httpRoute.host=broker.example.com',
        '--set',
        'httpRoute.parentRefs[0].name=public',
        '--set',
        'httpRoute.parentRefs[0].namespace=gateway-system',
        '--set',
        'httpRoute.parentRefs[0].sectionName=https',
      ],
      { release: 'ainp-broker' },
    );
    const route = ms.find((m) => m.kind === 'HTTPRoute')!;
    expect(route.apiVersion).toBe('gateway.networking.k8s.io/v1');
    expect(route.metadata.name).toBe('ainp-broker');
    const service = ms.find((m) => m.kind === 'Service')!;
    expect(route.spec).toEqual({
      parentRefs: [{ name: 'public', namespace: 'gateway-system', sectionName: 'https' }],
      hostnames: ['broker.example.com'],
      rules: [
        {
          matches: [{ path: { type: 'PathPrefix', value: '/' } }],
          backendRefs: [{ name: service.metadata.name, port: service.spec.ports[0].port }],
        },
      ],
    });
    // Off by default: no HTTPRoute beside the Ingress unless asked for.
    expect((await renderChart([])).filter((m) => m.kind === 'HTTPRoute')).toEqual([]);
  });
});

describe('bad values fail rendering with a clear message', () => {
  it.each([
    [['--set', 'image.tag=latest'], '/image/tag'],
    [['--set', 'image.tag=', '--set', 'image.digest='], 'image.tag or image.digest is required'],
    [['--set', 'image.digest=md5:abc'], '/image/digest'],
    [['--set', 'replicaCount=0', '--set', 'autoscaling.enabled=false'], '/replicaCount'],
    [['--set', 'environment=production'], '/environment'],
    [['--set', 'existingSecret='], '/existingSecret'],
    [['--set', 'config.DATABASE_URL=postgres://u:p@h/db'], '/config'],
    [['--set', 'ingress.enabled=true'], 'ingress.host is required'],
    [
      ['--set', 'httpRoute.enabled=true', '--set', 'httpRoute.host=a.example.com'],
      'httpRoute.parentRefs is required when httpRoute.enabled',
    ],
    [
      ['--set', 'httpRoute.enabled=true', '--set', 'httpRoute.parentRefs[0].name=public'],
      'httpRoute.host is required',
    ],
    [
      ['--set', 'httpRoute.enabled=true', '--set', 'httpRoute.parentRefs[0].namespace=gw'],
      '/httpRoute/parentRefs/0',
    ],
    [
      [
        '--set',
        'ingress.enabled=true',
        '--set',
        'ingress.host=a.example.com',
        '--set',
        'ingress.tls.secretName=',
      ],
      'ingress.tls.secretName is required',
    ],
    [
      ['--set', 'environment=prod', '--set', 'autoscaling.minReplicas=2'],
      'prod needs autoscaling.minReplicas >= 3',
    ],
    [['--set', 'autoscaling.minReplicas=5', '--set', 'autoscaling.maxReplicas=3'], 'must not exceed'],
    [['--set', 'jobs.finalizer.schedule=often'], '/jobs/finalizer/schedule'],
    [['--set', 'unknownValue=1'], 'unknownValue'],
  ])('%j → %s', async (args, message) => {
    expect(await renderError(args)).toContain(message);
  });
});

/** The pod template of every workload the chart renders: the API, the migration Job, the CronJobs. */
const podTemplates = (ms: Manifest[]) =>
  ms.flatMap((m) => {
    if (m.kind === 'Deployment' || m.kind === 'Job') return [{ name: m.metadata.name, pod: m.spec.template }];
    if (m.kind === 'CronJob') return [{ name: m.metadata.name, pod: m.spec.jobTemplate.spec.template }];
    return [];
  });

/** A values file holding `values` (JSON is YAML), for `-f`. */
function valuesFile(values: unknown): string {
  const file = path.join(scratchDir('ainp-values'), 'values.json');
  writeFileSync(file, JSON.stringify(values));
  return file;
}

describe('scheduling knobs and pod annotations', () => {
  const toleration = { key: 'dedicated', operator: 'Equal', value: 'ainp', effect: 'NoSchedule' };
  const affinity = {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['ainp'] }] }],
      },
    },
  };

  it('leaves nodeSelector, tolerations and affinity out by default', async () => {
    const pods = podTemplates(await renderChart());
    expect(pods.length).toBeGreaterThanOrEqual(4);
    for (const { pod } of pods) {
      expect(pod.spec).not.toHaveProperty('nodeSelector');
      expect(pod.spec).not.toHaveProperty('tolerations');
      expect(pod.spec).not.toHaveProperty('affinity');
      expect(pod.spec).not.toHaveProperty('imagePullSecrets');
    }
  });

  it('puts them, and the extra pod annotations, on every pod of the chart', async () => {
    const ms = await renderChart([
      '-f',
      valuesFile({
        nodeSelector: { 'kubernetes.io/arch': 'amd64' },
        tolerations: [toleration],
        affinity,
        podAnnotations: { 'sidecar.istio.io/inject': 'false' },
        imagePullSecrets: ['registry-creds'],
      }),
    ]);
    for (const m of ms) await validateManifest(m);
    const pods = podTemplates(ms);
    expect(pods.map((p) => p.name).sort()).toEqual(
      [
        'rel-ainp-broker',
        'rel-ainp-broker-aggregator',
        'rel-ainp-broker-finalizer',
        'rel-ainp-broker-migrate',
      ].sort(),
    );
    for (const { name, pod } of pods) {
      expect(pod.spec.nodeSelector, name).toEqual({ 'kubernetes.io/arch': 'amd64' });
      expect(pod.spec.tolerations, name).toEqual([toleration]);
      expect(pod.spec.affinity, name).toEqual(affinity);
      expect(pod.metadata.annotations, name).toMatchObject({ 'sidecar.istio.io/inject': 'false' });
      expect(pod.spec.imagePullSecrets, name).toEqual([{ name: 'registry-creds' }]);
    }
    // The API's own annotation stays beside the extra ones.
    expect(one(ms, 'Deployment').spec.template.metadata.annotations).toHaveProperty('checksum/config');
  });

  it.each([
    [{ tolerations: [{ key: 'dedicated', operator: 'Sometimes' }] }, '/tolerations/0/operator'],
    [{ affinity: { nodeAfinity: {} } }, 'nodeAfinity'],
    [{ nodeSelector: { pool: 1 } }, '/nodeSelector/pool'],
    [{ podAnnotations: { a: true } }, '/podAnnotations/a'],
  ])('refuses %j naming %s', async (values, message) => {
    expect(await renderError(['-f', valuesFile(values)])).toContain(message);
  });
});

describe('monitor labels', () => {
  it('puts the configured labels on the ServiceMonitor and the PrometheusRule', async () => {
    const ms = await renderChart([
      '-f',
      valuesFile({
        metrics: {
          serviceMonitor: { labels: { release: 'kube-prometheus-stack' } },
          prometheusRule: { labels: { release: 'kube-prometheus-stack', role: 'alert-rules' } },
        },
      }),
    ]);
    expect(one(ms, 'ServiceMonitor').metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
    expect(one(ms, 'PrometheusRule').metadata.labels).toMatchObject({
      release: 'kube-prometheus-stack',
      role: 'alert-rules',
    });
  });
});

describe('NOTES.txt', () => {
  /**
   * `helm template` leaves NOTES.txt out and `helm install --dry-run` wants a cluster, so the notes
   * are rendered through a copy of the chart whose one extra template runs them with `tpl`.
   */
  async function renderNotes(args: string[]): Promise<string> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ainp-notes-'));
    try {
      cpSync(CHART, dir, { recursive: true });
      cpSync(path.join(CHART, 'templates/NOTES.txt'), path.join(dir, 'notes.txt'));
      writeFileSync(
        path.join(dir, 'templates/notes-as-configmap.yaml'),
        'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: notes }\ndata:\n  notes: {{ tpl (.Files.Get "notes.txt") . | quote }}\n',
      );
      const { stdout } = await run(HELM, [
        'template',
        'rel',
        dir,
        '--namespace',
        'ainp',
        '--kube-version',
        KUBE,
        ...args,
      ]);
      const cm = parseAllDocuments(stdout)
        .map((d) => d.toJS() as Manifest)
        .find((m) => m?.kind === 'ConfigMap' && m.metadata.name === 'notes');
      return cm!.data.notes as string;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('tells how to check the rollout and readiness, and where the credentials come from', async () => {
    const notes = await renderNotes([]);
    expect(notes).toContain('kubectl -n ainp rollout status deployment/rel-ainp-broker');
    expect(notes).toContain('kubectl -n ainp logs job/rel-ainp-broker-migrate');
    expect(notes).toContain('port-forward service/rel-ainp-broker 8080:80');
    expect(notes).toContain('/ready');
    expect(notes).toContain('Secret "ainp-broker-secrets"');
    expect(notes).toContain('Periodic jobs (CronJobs): aggregator, finalizer.');
    expect(notes).not.toContain('Public URL');
  });

  it('gives the public URL when an Ingress is on', async () => {
    const notes = await renderNotes([
      '--set',
      'ingress.enabled=true',
      '--set',
      'ingress.host=broker.example.com',
      '--set',
      'ingress.tls.secretName=broker-tls',
    ]);
    expect(notes).toContain('Public URL: https://broker.example.com');
  });
});
