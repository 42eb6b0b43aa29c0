import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  configSchema,
  connectionBudget,
  cronPeriodSeconds,
  parseStackConfig,
  SECRET_KEYS,
} from '../infra/config.js';
import { ALERTMANAGER_CONFIG_KEY } from '../infra/cluster-stack/config.js';
import { alertThresholds, readSlo, sloSchema } from '../infra/slo.js';

/** Pulumi.yaml declares exactly the keys infra/config.ts reads, with the same defaults and types. */
type Declared = { type: string; description?: string; default: unknown };
const project = parse(readFileSync('Pulumi.yaml', 'utf8')) as {
  name: string;
  main: string;
  config: Record<string, Declared>;
};

describe('the public URL config', () => {
  const base = { environment: 'staging', host: 'broker.example' };
  it('needs a certificate source for a host, and reads annotations as a JSON object of strings', () => {
    expect(parseStackConfig(base)).toMatchObject({
      ok: false,
      problems: [expect.stringContaining('needs a TLS certificate: set certManagerClusterIssuer')],
    });
    const ok = parseStackConfig({
      ...base,
      certManagerClusterIssuer: 'letsencrypt',
      ingressClassName: 'traefik',
      ingressControllerNamespace: 'traefik',
      ingressAnnotations: '{"nginx.ingress.kubernetes.io/proxy-body-size":"1m"}',
    });
    expect(ok).toMatchObject({
      ok: true,
      config: { ingressAnnotations: { 'nginx.ingress.kubernetes.io/proxy-body-size': '1m' } },
    });
    expect(parseStackConfig({ ...base, ingressTlsSecret: 'mine', ingressAnnotations: '[1]' })).toMatchObject({
      ok: false,
      problems: ['ingressAnnotations: must be a JSON object of string values'],
    });
  });
});

describe('the PostgreSQL connection budget', () => {
  const base = { environment: 'staging' };
  const problems = (raw: Record<string, string>) => {
    const r = parseStackConfig(raw);
    return r.ok ? [] : r.problems;
  };

  it('counts every pod the HPA allows (and a rollout’s extra one), their LISTEN connections, the jobs and what is reserved', () => {
    const c = configSchema.parse({ brokerMaxReplicas: '20', brokerDbPoolMax: '20', creditsEnabled: 'true' });
    // (20 + 1) x (20 + 1) + 3 x 20 + 2 + 10
    expect(connectionBudget(c)).toEqual({ need: 513, broker: 441, cronJobs: 3, limit: 200 });
  });

  it('refuses prod’s old numbers (20 replicas x a pool of 20 on max_connections 100), saying what to change', () => {
    expect(
      problems({
        ...base,
        brokerMaxReplicas: '20',
        brokerDbPoolMax: '20',
        postgresMaxConnections: '100',
        creditsEnabled: 'true',
      }),
    ).toEqual([
      'postgresMaxConnections: 513 connections can be open at once, above postgresMaxConnections 100 ' +
        '((brokerMaxReplicas 20 + 1 during a rollout) x (brokerDbPoolMax 20 + 1 for LISTEN) + 3 CronJobs x 20 ' +
        '+ 2 migration + 10 reserved); raise postgresMaxConnections to at least 513, lower brokerDbPoolMax, ' +
        'or lower brokerMaxReplicas',
    ]);
    // A budget that fits at this pool size names the HPA maximum that would.
    const at150 = { ...base, brokerDbPoolMax: '10', postgresMaxConnections: '150' };
    expect(problems({ ...at150, brokerMaxReplicas: '12' })).toEqual([
      expect.stringMatching(
        /at least 175, lower brokerDbPoolMax, or lower brokerMaxReplicas \(to 9 at this pool size\)$/,
      ),
    ]);
    expect(problems({ ...at150, brokerMaxReplicas: '9' })).toEqual([]);
    expect(problems({ ...at150, brokerMaxReplicas: '10' })).toHaveLength(1);
  });

  it('the committed stacks fit: prod at its HPA maximum of 20', () => {
    for (const stack of ['staging', 'prod', 'local']) {
      const file = parse(readFileSync(`Pulumi.${stack}.yaml`, 'utf8')) as { config: Record<string, string> };
      const raw = Object.fromEntries(
        Object.entries(file.config)
          .filter(([k]) => k.startsWith('ainp:'))
          .map(([k, v]) => [k.slice(5), String(v)]),
      );
      const c = configSchema.parse(raw);
      const b = connectionBudget(c);
      expect(b.need, stack).toBeLessThanOrEqual(b.limit);
      if (stack === 'prod') expect([c.brokerMaxReplicas, b.need, b.limit]).toEqual([20, 177, 200]);
    }
  });
});

describe('Pulumi.yaml and the config schema', () => {
  it('declares every key the program reads, described, with the schema default and a matching type', () => {
    const keys = Object.keys(configSchema.shape);
    expect(Object.keys(project.config).sort()).toEqual(keys.sort());
    for (const key of keys) {
      const d = project.config[key]!;
      const schema = (configSchema.shape as Record<string, { parse(v: unknown): unknown }>)[key]!;
      const def = schema.parse(undefined);
      expect(d.description, key).toBeTruthy();
      expect(d.type, key).toBe(
        typeof def === 'number' ? 'integer' : typeof def === 'boolean' ? 'boolean' : 'string',
      );
      // The declared default, read as the program reads config (a string), is the schema's default.
      expect(schema.parse(String(d.default)), key).toEqual(def);
    }
    expect(project.main).toBe('infra/index.ts');
  });

  it.each(['staging', 'prod', 'local'])(
    'Pulumi.%s.yaml sets only known keys, no secret in plain text',
    (stack) => {
      const file = parse(readFileSync(`Pulumi.${stack}.yaml`, 'utf8')) as { config: Record<string, unknown> };
      // Each shared stack names its cluster: the provider's own key, not the project's.
      expect(file.config['kubernetes:context'], 'kubernetes:context').toMatch(/^ainp-[a-z]+$/);
      for (const [k, v] of Object.entries(file.config)) {
        if (k === 'kubernetes:context') continue;
        expect(k.startsWith(`${project.name}:`), k).toBe(true);
        const key = k.slice(project.name.length + 1);
        expect(Object.keys(configSchema.shape), k).toContain(key);
        expect((SECRET_KEYS as readonly string[]).includes(key), `${k} must be set with --secret`).toBe(
          false,
        );
        expect(typeof v === 'object' && v && 'secure' in v).toBe(false);
      }
    },
  );

  it('rejects what an operator could get wrong, every problem at once', () => {
    const r = parseStackConfig({
      environment: 'prod',
      pouK: '4',
      pouM: '3',
      natsReplicas: '2',
      brokerReplicas: 'x',
    });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problems).toContain('brokerReplicas: Invalid input: expected number, received NaN');
    const r2 = parseStackConfig({
      environment: 'prod',
      pouK: '4',
      pouM: '3',
      natsReplicas: '2',
      postgresAntiAffinity: 'preferred',
    });
    expect(!r2.ok && r2.problems).toEqual(
      expect.arrayContaining([
        'pouK: k=4 must not exceed pouM m=3',
        "postgresAntiAffinity: prod keeps its database instances on distinct nodes ('required')",
        'natsReplicas: JetStream needs 1 or at least 3 servers, not 2',
        'brokerReplicas: prod runs at least 3 (got 2)',
      ]),
    );
    expect(parseStackConfig({ registryUsername: 'ci' })).toEqual({
      ok: false,
      problems: [
        'registryPassword: required (pulumi config set --secret registryPassword) with registryUsername',
      ],
    });
    expect(parseStackConfig({}).ok).toBe(true);
    expect(parseStackConfig({ postgresInstances: '2', postgresAntiAffinity: 'preferred' }).ok).toBe(true);
    expect(parseStackConfig({ postgresAntiAffinity: 'sometimes' }).ok).toBe(false);
  });

  it('takes five cron fields for CronJob schedules (no seconds), six for the CloudNativePG backup', () => {
    const six = parseStackConfig({ finalizerCron: '*/30 * * * * *', postgresBackupSchedule: '0 3 * * *' });
    expect(!six.ok && six.problems).toEqual([
      'finalizerCron: must be a five-field cron expression (a Kubernetes CronJob has no seconds field)',
      'postgresBackupSchedule: must be a six-field cron expression (seconds first), as CloudNativePG takes',
    ]);
    expect(parseStackConfig({ finalizerCron: '*/2 * * * *', postgresBackupSchedule: '0 0 4 * * *' }).ok).toBe(
      true,
    );
  });

  it('refuses a valkey chart whose exporter gets no password (before 0.9.4) or whose keys differ (1.x)', () => {
    const problem =
      'valkeyChartVersion: must be a 0.x version from 0.9.4 (before 0.9.4 the metrics exporter gets no password and reports redis_up 0; 1.x renames the values keys this program sets)';
    for (const v of ['0.9.0', '0.9.3', '0.8.1', '1.0.0'])
      expect(parseStackConfig({ valkeyChartVersion: v }), v).toEqual({ ok: false, problems: [problem] });
    for (const v of ['0.9.4', '0.10.0', '0.11.0'])
      expect(parseStackConfig({ valkeyChartVersion: v }).ok, v).toBe(true);
  });

  it('derives a schedule period from cron expressions, five or six fields', () => {
    expect(cronPeriodSeconds('*/1 * * * *')).toBe(60);
    expect(cronPeriodSeconds('*/5 * * * *')).toBe(300);
    expect(cronPeriodSeconds('0 * * * *')).toBe(3600);
    expect(cronPeriodSeconds('*/30 * * * * *')).toBe(30);
  });
});

describe('the SLO file', () => {
  it('is valid and the chart defaults carry its alert thresholds (one source for k6 and the alerts)', () => {
    const slo = readSlo();
    expect(sloSchema.safeParse(slo).success).toBe(true);
    const values = parse(readFileSync('helm/values.yaml', 'utf8')) as {
      metrics: { prometheusRule: Record<string, number> };
    };
    expect(values.metrics.prometheusRule).toMatchObject(alertThresholds(slo));
  });
});

describe("the RUNBOOK's Secrets section", () => {
  it('names every secret the programs read, and no other, with what it is for', () => {
    const runbook = readFileSync('docs/RUNBOOK.md', 'utf8');
    const section = runbook.slice(runbook.indexOf('### Secrets'), runbook.indexOf('### Topology'));
    const named = [...section.matchAll(/^\| `([A-Za-z]+)` +\| +\w[^|]*\|/gm)].map((m) => m[1]);
    expect(named.sort()).toEqual([...SECRET_KEYS, ALERTMANAGER_CONFIG_KEY].sort());
    expect(readFileSync('Pulumi.yaml', 'utf8')).toContain('"Secrets" section');
  });
});
