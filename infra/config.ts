import { Cron } from 'croner';
import { z } from 'zod';

/**
 * The stack configuration: every key the program reads, its type and its default, in one schema.
 * `Pulumi.yaml` declares the same keys with the same defaults (a test keeps the two equal), and
 * `Pulumi.<stack>.yaml` sets what differs per stack. Secrets are never here: they are generated
 * with @pulumi/random or set by an operator with `pulumi config set --secret` (see SECRET_KEYS).
 */
export const int = (min: number, def: number) => z.coerce.number().int().min(min).default(def);
export const bool = (def: boolean) =>
  z
    .enum(['true', 'false'])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true');
const quantity = (def: string) =>
  z
    .string()
    .regex(/^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti)?$/, 'must be a Kubernetes quantity such as 500m, 512Mi or 10Gi')
    .default(def);
/** A Kubernetes CronJob schedule: five fields (the local schedule also takes a seconds field; a CronJob does not). */
const cron = (def: string) =>
  z
    .string()
    .default(def)
    .refine(
      (v) => isValidCron(v, [5]),
      'must be a five-field cron expression (a Kubernetes CronJob has no seconds field)',
    );
/** A JSON object of strings in one config value (annotations, labels); `{}` by default. */
export const stringMap = () =>
  z
    .string()
    .default('{}')
    .transform((v, ctx) => {
      try {
        return z.record(z.string(), z.string()).parse(JSON.parse(v));
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON object of string values' });
        return z.NEVER;
      }
    });
/** Orders two x.y.z versions: negative, zero or positive. */
export function compareVersions(a: string, b: string): number {
  const [pa, pb] = [a, b].map((v) => v.split('.').map(Number));
  for (let i = 0; i < 3; i++) if (pa![i] !== pb![i]) return pa![i]! - pb![i]!;
  return 0;
}
export const dnsLabel = (def: string) =>
  z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a DNS label')
    .default(def);
export const chartVersion = (def: string) =>
  z
    .string()
    .regex(/^[0-9]+\.[0-9]+\.[0-9]+$/, 'must be an exact chart version (x.y.z)')
    .default(def);

/**
 * The PostgreSQL image CloudNativePG runs by default (postgresImage), pinned by digest: the latest 16.x `system` image of
 * CloudNativePG's own image catalog (cloudnative-pg/artifacts, image-catalogs/
 * catalog-system-trixie.yaml, images.cnpg.io/date 20260831; CloudNativePG 1.30.0's source names
 * 18.x as its default and points to these catalogs for the others). `system`, not `minimal` or
 * `standard`: only the system images still carry the barman-cloud tools that `barmanObjectStore`
 * backups run (see docs/RUNBOOK.md on the move to the Barman Cloud plugin).
 */
export const POSTGRES_IMAGE =
  'ghcr.io/cloudnative-pg/postgresql:16.15-202608310817-system-trixie@sha256:dcaa69582efb8b9fb1de72f0b8e5d9235a7a0a49ca5f1f1a400b2824a0d1b261';
/** An image reference split into its parts: `repository[:tag][@sha256:<64 hex>]`. */
export type ImageRef = { repository: string; tag?: string; digest?: string };

const IMAGE_REF =
  /^([a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*)(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(sha256:[0-9a-f]{64}))?$/;

/** Splits `repository[:tag][@sha256:...]` (a registry's port stays in the repository); undefined if it is none. */
export function parseImageRef(ref: string): ImageRef | undefined {
  const m = IMAGE_REF.exec(ref);
  if (!m || (!m[2] && !m[3])) return undefined;
  return { repository: m[1]!, ...(m[2] ? { tag: m[2] } : {}), ...(m[3] ? { digest: m[3] } : {}) };
}

/**
 * For a chart that renders `repository:tag` (Valkey, its exporter, CloudNativePG's operator): the
 * tag, with the digest after it when there is one (`1.30.0@sha256:...` pins the image by digest).
 */
export const chartTag = (r: ImageRef) => `${r.tag ?? ''}${r.digest ? `@${r.digest}` : ''}`;

/**
 * An image the stack deploys, as stack config: a private mirror or an air-gapped cluster points
 * it at its own copy. `tagRequired`: the chart renders `repository:tag`, so a digest alone will not do.
 */
export const imageRef = (def: string, tagRequired = false) =>
  z
    .string()
    .default(def)
    .superRefine((v, ctx) => {
      const r = parseImageRef(v);
      if (!r)
        ctx.addIssue({
          code: 'custom',
          message:
            'must be an image reference with a tag or a digest (repository:tag, repository@sha256:<64 hex> or repository:tag@sha256:<64 hex>)',
        });
      else if (tagRequired && !r.tag)
        ctx.addIssue({
          code: 'custom',
          message: `needs a tag (repository:tag, or repository:tag@sha256:<64 hex> to pin the digest): the chart renders repository:tag, got ${v}`,
        });
    });

/** When the kubelet pulls the images the stack deploys (Never: only images already on the nodes). */
export const imagePullPolicy = () => z.enum(['IfNotPresent', 'Always', 'Never']).default('IfNotPresent');

/**
 * Where the third-party charts come from: empty, each chart's repository by exact version; a folder,
 * `<folder>/<chart>-<version>.tgz` (a chart mirror copied in, an air-gapped cluster, the cluster lane).
 */
export const chartDirectory = () =>
  z
    .string()
    .regex(/^$|^\/\S*$/, 'must be empty (chart repositories) or an absolute folder path')
    .default('');

export type Toleration = {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  tolerationSeconds?: number;
};

/**
 * Taints every pod of the stack tolerates (a dedicated, tainted node pool), as a JSON array of
 * Kubernetes tolerations; `[]` by default.
 */
export const tolerations = () =>
  z
    .string()
    .default('[]')
    .transform((v, ctx) => {
      try {
        return z
          .array(
            z
              .object({
                key: z.string().min(1).optional(),
                operator: z.enum(['Exists', 'Equal']).optional(),
                value: z.string().optional(),
                effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
                tolerationSeconds: z.number().int().optional(),
              })
              .strict(),
          )
          .parse(JSON.parse(v)) as Toleration[];
      } catch {
        ctx.addIssue({
          code: 'custom',
          message:
            'must be a JSON array of tolerations ({"key": ..., "operator": "Exists"|"Equal", "value": ..., "effect": "NoSchedule"|"PreferNoSchedule"|"NoExecute"})',
        });
        return z.NEVER;
      }
    });

/** Where the pods may run: node labels to match and taints to tolerate (both empty: anywhere). */
export type Scheduling = { nodeSelector: Record<string, string>; tolerations: Toleration[] };

/** The scheduling fields of a pod spec, only those set (so an unset stack renders as before). */
export const podScheduling = (s: Scheduling) => ({
  ...(Object.keys(s.nodeSelector).length ? { nodeSelector: s.nodeSelector } : {}),
  ...(s.tolerations.length ? { tolerations: s.tolerations } : {}),
});

/** Linux platforms the broker image can be built for (its base image, node:*-bookworm-slim, has these). */
export const IMAGE_PLATFORMS = ['linux/amd64', 'linux/arm64'] as const;
const IMAGE_PLATFORMS_DEFAULT = IMAGE_PLATFORMS.join(',');

export const configSchema = z.object({
  environment: z.enum(['staging', 'prod']).default('staging'),
  namespace: dnsLabel('ainp'),
  host: z
    .string()
    .regex(/^$|^[a-z0-9.-]+$/, 'must be a host name, or empty for no Ingress')
    .default(''),
  // The public URL: which ingress controller serves it, where that controller runs (the
  // NetworkPolicy admits its namespace), extra Ingress annotations (a JSON object of strings), and
  // where the TLS certificate comes from: a cert-manager ClusterIssuer that creates it, or a Secret
  // the operator creates. DNS for `host` is the operator's to set up.
  ingressClassName: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be an IngressClass name')
    .default('nginx'),
  ingressControllerNamespace: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a namespace name')
    .default('ingress-nginx'),
  ingressAnnotations: stringMap(),
  // Gateway API: the Gateway listener(s) an HTTPRoute for `host` attaches to, beside the Ingress
  // (a JSON array of {name, namespace?, sectionName?}); `[]` renders none.
  gatewayParentRefs: z
    .string()
    .default('[]')
    .transform((v, ctx) => {
      try {
        return z
          .array(
            z
              .object({
                name: z.string().min(1),
                namespace: z.string().min(1).optional(),
                sectionName: z.string().min(1).optional(),
              })
              .strict(),
          )
          .parse(JSON.parse(v));
      } catch {
        ctx.addIssue({
          code: 'custom',
          message:
            'must be a JSON array of Gateway references ({"name": ..., "namespace": ..., "sectionName": ...})',
        });
        return z.NEVER;
      }
    }),
  certManagerClusterIssuer: z.string().default(''),
  ingressTlsSecret: z.string().default(''),
  imageRepository: z
    .string()
    .regex(/^[a-z0-9./_-]+(:[0-9]+)?(\/[a-z0-9._-]+)*$/, 'must be a repository without a tag or digest')
    .default('ghcr.io/ainp/broker'),
  imageDigest: z
    .string()
    .regex(/^$|^sha256:[0-9a-f]{64}$/, 'must be empty (build from source) or sha256:<64 hex>')
    .default(''),
  // The platforms the built image is made for, comma separated: one multi-platform image index
  // (BuildKit), so nodes of each architecture pull their own. Ignored with imageDigest.
  imagePlatforms: z
    .string()
    .default(IMAGE_PLATFORMS_DEFAULT)
    .transform((v, ctx) => {
      const list = v.split(',').map((p) => p.trim());
      const bad = list.filter((p) => !IMAGE_PLATFORMS.includes(p as never));
      if (!v.trim() || bad.length || new Set(list).size !== list.length) {
        ctx.addIssue({
          code: 'custom',
          message: `must be a comma-separated list of distinct platforms from ${IMAGE_PLATFORMS.join(', ')}${bad.length ? ` (not ${bad.join(', ')})` : ''}`,
        });
        return z.NEVER;
      }
      return list;
    }),
  // Where updates made before the commit moved into the update's message recorded it (`-dirty`
  // when the working tree had changes); kept so stack files that still hold it stay valid. Rollback
  // reads it from those updates' history; nothing writes it any more.
  sourceCommit: z
    .string()
    .regex(/^$|^[0-9a-f]{40}(-dirty)?$/, 'must be empty or a 40-hex git commit (optionally -dirty)')
    .default(''),
  // k6's image for the in-cluster gate, pinned by digest (repository@sha256:...): promotion then
  // runs smoke and load as Jobs beside the broker. Empty: k6 runs where `npm run promote` runs.
  gateImage: z
    .string()
    .regex(
      /^$|^[a-z0-9./_:-]+@sha256:[0-9a-f]{64}$/,
      'must be empty or an image pinned by digest (repository@sha256:<64 hex>)',
    )
    .default(''),
  // Every other image the stack deploys (the broker's is imageRepository and imageDigest; k6's,
  // gateImage), the public ones by default: a private mirror or an air-gapped cluster points them at
  // its own copies. Valkey's and its exporter's chart renders repository:tag, so those need a tag
  // (tag@sha256:<64 hex> pins the digest as well).
  valkeyImage: imageRef('docker.io/valkey/valkey:9.0.2', true),
  valkeyExporterImage: imageRef('ghcr.io/oliver006/redis_exporter:v1.79.0', true),
  natsImage: imageRef('nats:2.11.10-alpine'),
  natsReloaderImage: imageRef('natsio/nats-server-config-reloader:0.20.1'),
  natsExporterImage: imageRef('natsio/prometheus-nats-exporter:0.17.3'),
  // The PostgreSQL operand image of the CloudNativePG Cluster (imageName): one the operator
  // accepts (CloudNativePG's own system images carry the barman-cloud tools backups use).
  postgresImage: imageRef(POSTGRES_IMAGE),
  imagePullPolicy: imagePullPolicy(),
  chartDirectory: chartDirectory(),
  // Where every pod of the stack runs (broker, its Jobs, PostgreSQL, Valkey, NATS): node labels to
  // match (a JSON object) and taints to tolerate (a JSON array), for a dedicated node pool.
  nodeSelector: stringMap(),
  tolerations: tolerations(),
  registryServer: z.string().default(''),
  registryUsername: z.string().default(''),
  // The cluster's read-only pull credential for the image's registry (with the secret
  // registryPullPassword): never the push credential above, which can overwrite images. Empty:
  // the nodes pull with their own identity (EKS node role, GKE node service account) or anonymously.
  registryPullUsername: z.string().default(''),
  brokerReplicas: int(1, 2),
  brokerMaxReplicas: int(1, 10),
  brokerCpuRequest: quantity('250m'),
  brokerCpuLimit: quantity('1'),
  brokerMemoryRequest: quantity('256Mi'),
  brokerMemoryLimit: quantity('512Mi'),
  // How long `up` waits for the broker's release (migration hook, rollout, Jobs) before it fails:
  // a release whose pods never turn Ready fails the update after this, and promote rolls back.
  brokerRolloutTimeoutSeconds: int(30, 900),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  pouK: int(1, 3),
  pouM: int(1, 5),
  finalizerCron: cron('*/1 * * * *'),
  aggregatorCron: cron('0 * * * *'),
  creditsEnabled: bool(false),
  creditsCron: cron('5 * * * *'),
  // Connections each broker process's pool may hold (DB_POOL_MAX; each process also holds one for
  // LISTEN), and what PostgreSQL accepts (max_connections of the CloudNativePG Cluster; for an
  // external database, set it to that database's limit). The broker needs session state (LISTEN,
  // advisory locks, prepared statements), so no transaction-mode pooler sits between: the pools
  // themselves must fit, which parseStackConfig checks against the HPA maximum.
  brokerDbPoolMax: int(1, 10),
  postgresMaxConnections: int(20, 200),
  // Prod's data: the Namespace, the CloudNativePG Cluster and the releases owning volumes (NATS,
  // Valkey) are protected (an update that would delete or replace one fails) and retained on delete.
  protectData: bool(false),
  postgresInstances: int(1, 1),
  // How CloudNativePG keeps the instances apart: `required` (never two on one node, what a lost
  // node must not take down) or `preferred` (apart where possible): only for a cluster with fewer
  // nodes than instances, such as the lane's one real node in `npm run test:chaos`. Prod: required.
  postgresAntiAffinity: z.enum(['required', 'preferred']).default('required'),
  postgresStorageSize: quantity('10Gi'),
  storageClass: z.string().default(''),
  postgresBackupDestination: z
    .string()
    .regex(/^$|^s3:\/\/[a-z0-9.-]+(\/.*)?$/, 'must be empty (no backups) or s3://bucket/path')
    .default(''),
  postgresBackupEndpoint: z.string().default(''),
  postgresBackupRetention: z
    .string()
    .regex(/^[0-9]+[dwm]$/, 'must look like 30d, 4w or 3m')
    .default('30d'),
  // CloudNativePG's ScheduledBackup takes six fields, seconds first.
  postgresBackupSchedule: z
    .string()
    .default('0 0 3 * * *')
    .refine(
      (v) => isValidCron(v, [6]),
      'must be a six-field cron expression (seconds first), as CloudNativePG takes',
    ),
  valkeyReplicas: int(0, 0),
  valkeyStorageSize: quantity('8Gi'),
  natsReplicas: int(1, 1),
  natsStorageSize: quantity('10Gi'),
  // The cluster stack (project ainp-cluster) that installed this cluster's operators and
  // monitoring: `organization/ainp-cluster/<stack>`. Its outputs give the monitoring namespace and
  // labels, and its context must be this stack's. Staging and prod must name one.
  clusterStack: z
    .string()
    .regex(
      /^$|^[A-Za-z0-9_.-]+\/ainp-cluster\/[A-Za-z0-9_.-]+$/,
      'must be empty or the cluster stack as <organization>/ainp-cluster/<stack>',
    )
    .default(''),
  monitoringEnabled: bool(true),
  // Without clusterStack: where the cluster's Prometheus runs and the labels it selects monitors
  // and rules by (kube-prometheus-stack: `release: <name>`). With it, both come from that stack.
  monitoringNamespace: dnsLabel('monitoring'),
  monitoringSelectorLabels: stringMap(),
  // From 0.9.4 the chart hands its metrics exporter the password (earlier: redis_up 0); 1.x
  // renames the values keys the Valkey component sets.
  valkeyChartVersion: chartVersion('0.9.4').refine(
    (v) => compareVersions(v, '0.9.4') >= 0 && compareVersions(v, '1.0.0') < 0,
    'must be a 0.x version from 0.9.4 (before 0.9.4 the metrics exporter gets no password and reports redis_up 0; 1.x renames the values keys this program sets)',
  ),
  natsChartVersion: chartVersion('1.3.16'),
});

/** Keys that moved to the cluster stack (infra/cluster-stack): a stack file still setting one is told where. */
export const MOVED_TO_CLUSTER_STACK = [
  'monitoringInstallStack',
  'cnpgChartVersion',
  'kubePrometheusStackChartVersion',
] as const;

export type StackConfig = z.infer<typeof configSchema>;

/**
 * Keys an operator sets with `pulumi config set --secret KEY` (never in plain text). The three
 * URLs bring your own services (SPEC 11): a backing service whose URL is set is external (a
 * managed PostgreSQL, Valkey or NATS) and is not provisioned in the cluster. `adminToken` replaces
 * the generated admin token, and `postgresPassword`, `valkeyPassword` and `natsToken` the generated
 * credentials of the services the stack provisions, so a stack with every secret set needs no
 * @pulumi/random.
 */
export const SECRET_KEYS = [
  'registryPassword',
  'registryPullPassword',
  'postgresBackupAccessKeyId',
  'postgresBackupSecretAccessKey',
  'databaseUrl',
  'redisUrl',
  'natsUrl',
  'adminToken',
  'postgresPassword',
  'valkeyPassword',
  'natsToken',
] as const;
export type SecretKey = (typeof SECRET_KEYS)[number];

/** Which backing services a stack brings itself (their URL secret is set) instead of provisioning. */
export function externalServices(secretsSet: ReadonlySet<SecretKey>) {
  return {
    postgres: secretsSet.has('databaseUrl'),
    valkey: secretsSet.has('redisUrl'),
    nats: secretsSet.has('natsUrl'),
  };
}

export function isValidCron(expr: string, fields: number[] = [5, 6]): boolean {
  if (!fields.includes(expr.trim().split(/\s+/).length)) return false;
  try {
    new Cron(expr, { paused: true });
    return true;
  } catch {
    return false;
  }
}

/** The period of a cron schedule in seconds: the gap between its next two runs (after `from`). */
export function cronPeriodSeconds(expr: string, from = new Date('2026-01-05T00:00:00Z')): number {
  const [a, b] = new Cron(expr, { paused: true, timezone: 'UTC' }).nextRuns(2, from);
  return Math.round((b!.getTime() - a!.getTime()) / 1000);
}

/** Connections the ops side takes from max_connections: superuser_reserved_connections (3), the operator and its exporter. */
export const RESERVED_CONNECTIONS = 10;
/** The migration Job's pool (app/main.ts, poolOptions). */
export const MIGRATION_CONNECTIONS = 2;

/**
 * The most connections the stack's processes may open at once: every broker pod the HPA allows
 * plus the one a rollout adds (maxSurge 1), each with its pool and its LISTEN connection; each
 * enabled CronJob's pool (concurrencyPolicy Forbid: one run each); the migration Job; what is
 * reserved.
 */
export function connectionBudget(c: StackConfig) {
  const cronJobs = 2 + (c.creditsEnabled ? 1 : 0);
  const broker = (c.brokerMaxReplicas + 1) * (c.brokerDbPoolMax + 1);
  const need = broker + cronJobs * c.brokerDbPoolMax + MIGRATION_CONNECTIONS + RESERVED_CONNECTIONS;
  return { need, broker, cronJobs, limit: c.postgresMaxConnections };
}

export type ConfigResult = { ok: true; config: StackConfig } | { ok: false; problems: string[] };

/**
 * Parses the raw (string) values of a stack's config and checks the rules that span keys. Pure:
 * the program passes what `pulumi.Config` holds; tests pass a stack file's values.
 */
export function parseStackConfig(
  raw: Record<string, string | undefined>,
  secretsSet: ReadonlySet<SecretKey> = new Set(),
): ConfigResult {
  const known = new Set([...Object.keys(configSchema.shape), ...SECRET_KEYS]);
  const problems = Object.keys(raw)
    .filter((k) => raw[k] !== undefined && !known.has(k))
    .map((k) =>
      (MOVED_TO_CLUSTER_STACK as readonly string[]).includes(k)
        ? `${k}: moved to the cluster stack (infra/cluster-stack, project ainp-cluster); remove it here and set it there`
        : `${k}: unknown config key`,
    );
  const parsed = configSchema.safeParse(
    Object.fromEntries(Object.entries(raw).filter(([k, v]) => v !== undefined && k in configSchema.shape)),
  );
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.')}: ${issue.message}`);
    return { ok: false, problems };
  }
  const c = parsed.data;
  if (c.gatewayParentRefs.length && !c.host)
    problems.push('gatewayParentRefs: the HTTPRoute routes `host`; set host too');
  if (c.host && !c.certManagerClusterIssuer && !c.ingressTlsSecret)
    problems.push(
      `host: the Ingress for ${c.host} needs a TLS certificate: set certManagerClusterIssuer (cert-manager creates it) or ingressTlsSecret (a Secret you create)`,
    );
  if (c.certManagerClusterIssuer && c.ingressTlsSecret)
    problems.push(
      'ingressTlsSecret: cert-manager writes the certificate; set one of certManagerClusterIssuer and ingressTlsSecret',
    );
  if (c.pouK > c.pouM) problems.push(`pouK: k=${c.pouK} must not exceed pouM m=${c.pouM}`);
  if (c.brokerMaxReplicas < c.brokerReplicas)
    problems.push(`brokerMaxReplicas: ${c.brokerMaxReplicas} is below brokerReplicas ${c.brokerReplicas}`);
  const budget = connectionBudget(c);
  if (budget.need > budget.limit) {
    const fits = Math.floor(
      (budget.limit - budget.cronJobs * c.brokerDbPoolMax - MIGRATION_CONNECTIONS - RESERVED_CONNECTIONS) /
        (c.brokerDbPoolMax + 1) -
        1,
    );
    problems.push(
      `postgresMaxConnections: ${budget.need} connections can be open at once, above postgresMaxConnections ${budget.limit} ` +
        `((brokerMaxReplicas ${c.brokerMaxReplicas} + 1 during a rollout) x (brokerDbPoolMax ${c.brokerDbPoolMax} + 1 for LISTEN) ` +
        `+ ${budget.cronJobs} CronJobs x ${c.brokerDbPoolMax} + ${MIGRATION_CONNECTIONS} migration + ${RESERVED_CONNECTIONS} reserved); ` +
        `raise postgresMaxConnections to at least ${budget.need}, lower brokerDbPoolMax, or lower brokerMaxReplicas` +
        (fits >= c.brokerReplicas ? ` (to ${fits} at this pool size)` : ''),
    );
  }
  if (c.natsReplicas === 2) problems.push('natsReplicas: JetStream needs 1 or at least 3 servers, not 2');
  // Pulumi hands the program every key Pulumi.yaml declares, defaults included: a value other
  // than the default is one an operator set here.
  if (c.clusterStack) {
    const defaults = configSchema.parse({});
    if (c.monitoringNamespace !== defaults.monitoringNamespace)
      problems.push(
        `monitoringNamespace: comes from the cluster stack ${c.clusterStack}; set it there, not here`,
      );
    if (JSON.stringify(c.monitoringSelectorLabels) !== JSON.stringify(defaults.monitoringSelectorLabels))
      problems.push(
        `monitoringSelectorLabels: comes from the cluster stack ${c.clusterStack}; set it there, not here`,
      );
  }
  const external = externalServices(secretsSet);
  if (c.postgresBackupDestination && external.postgres)
    problems.push(
      'postgresBackupDestination: backs up a provisioned database; an external one (databaseUrl) is backed up by its provider',
    );
  if (c.postgresBackupDestination && !external.postgres) {
    for (const k of ['postgresBackupAccessKeyId', 'postgresBackupSecretAccessKey'] as const)
      if (!secretsSet.has(k))
        problems.push(`${k}: required (pulumi config set --secret ${k}) when backups are on`);
  }
  if (c.registryUsername && !secretsSet.has('registryPassword'))
    problems.push(
      'registryPassword: required (pulumi config set --secret registryPassword) with registryUsername',
    );
  if (c.registryPullUsername && !secretsSet.has('registryPullPassword'))
    problems.push(
      'registryPullPassword: required (pulumi config set --secret registryPullPassword) with registryPullUsername',
    );
  if (secretsSet.has('registryPullPassword') && !c.registryPullUsername)
    problems.push('registryPullUsername: required with the secret registryPullPassword');
  // Prod's redundancy rules hold for what prod provisions; an external service brings its own.
  if (c.environment === 'prod') {
    if (!c.imageDigest)
      problems.push(
        'imageDigest: prod deploys only an image promoted from staging and never builds from source; ' +
          'run `npm run promote` (it records the promoted digest in Pulumi.prod.yaml and commits it)',
      );
    if (c.brokerReplicas < 3) problems.push(`brokerReplicas: prod runs at least 3 (got ${c.brokerReplicas})`);
    if (c.postgresInstances < 3 && !external.postgres)
      problems.push(`postgresInstances: prod runs 3 database instances (got ${c.postgresInstances})`);
    if (c.postgresAntiAffinity !== 'required' && !external.postgres)
      problems.push("postgresAntiAffinity: prod keeps its database instances on distinct nodes ('required')");
    if (c.natsReplicas < 3 && !external.nats)
      problems.push(`natsReplicas: prod runs a NATS cluster of 3 (got ${c.natsReplicas})`);
    if (c.valkeyReplicas < 2 && !external.valkey)
      problems.push(
        `valkeyReplicas: prod runs a primary and at least 2 replicas, with a PDB (got ${c.valkeyReplicas})`,
      );
    if (!c.postgresBackupDestination && !external.postgres)
      problems.push('postgresBackupDestination: prod must back up its database');
    if (!c.protectData)
      problems.push(
        "protectData: prod must be 'true' (its namespace, database and volumes are protected from deletion)",
      );
  }
  return problems.length ? { ok: false, problems } : { ok: true, config: c };
}
