import * as pulumi from '@pulumi/pulumi';
import { BROKER_POD_LABELS, BROKER_RELEASE, jobValues } from './broker-values.js';
import { appCharts } from './charts.js';
import { Broker } from './components/broker.js';
import { clusterUid, IDENTITY_NAMESPACE, settled } from './components/cluster-identity.js';
import { CNPG_NAMESPACE } from './components/cnpg-operator.js';
import { Namespace } from './components/namespace.js';
import { Nats } from './components/nats.js';
import { Database } from './components/postgres.js';
import { Valkey } from './components/valkey.js';
import {
  configSchema,
  externalServices,
  parseImageRef,
  parseStackConfig,
  SECRET_KEYS,
  type SecretKey,
  type StackConfig,
} from './config.js';
import { projectConfigValues } from './project-config.js';
import { readSlo } from './slo.js';

export type RawConfig = {
  values: Record<string, string | undefined>;
  secrets: Partial<Record<SecretKey, pulumi.Output<string>>>;
};

/** Reads this stack's config (the project's namespace only) once. */
export function readRawConfig(): RawConfig {
  const values = projectConfigValues(pulumi.getProject(), SECRET_KEYS);
  const cfg = new pulumi.Config();
  const secrets: RawConfig['secrets'] = {};
  for (const k of SECRET_KEYS) {
    const v = cfg.getSecret(k);
    if (v !== undefined) secrets[k] = v;
  }
  return { values, secrets };
}

/**
 * The whole platform for one stack: namespace, PostgreSQL, Valkey, NATS, then the broker, which
 * depends on all of them. What the cluster shares (the CloudNativePG operator, the Prometheus
 * stack) is the cluster stack's (infra/cluster-stack), named by `clusterStack`: two app stacks on
 * one cluster create nothing with the same name. A backing service whose URL is a config secret is external
 * and not provisioned (SPEC 11). A config that breaks a rule stops the program with a
 * ResourceError listing every problem, before anything is registered below it.
 */
export class Platform extends pulumi.ComponentResource {
  readonly config: StackConfig;
  readonly namespace: Namespace;
  /** Each undefined when the stack brings that service itself. */
  readonly database: Database | undefined;
  readonly valkey: Valkey | undefined;
  readonly nats: Nats | undefined;
  readonly broker: Broker;
  /** The kubeconfig context this stack deploys to (`kubernetes:context`), '' for the current one. */
  readonly kubeContext: string;

  /**
   * `cluster`: what deploy() read from the stack's cluster stack (undefined without one).
   * `previousNamespace`: where this stack's last update deployed (undefined on its first).
   */
  constructor(
    name: string,
    raw: RawConfig,
    cluster: ClusterMonitoring | undefined,
    opts?: pulumi.ComponentResourceOptions,
    previousNamespace?: string,
  ) {
    super('ainp:platform:Platform', name, {}, opts);
    const stack = pulumi.getStack();
    const shared = ['staging', 'prod'].includes(stack);
    const parsed = parseStackConfig(raw.values, new Set(Object.keys(raw.secrets) as SecretKey[]));
    const problems = parsed.ok ? [] : parsed.problems;
    const environment = raw.values.environment ?? 'staging';
    if (shared && environment !== stack)
      problems.unshift(`environment: stack ${stack} must set environment: ${stack}`);
    // The provider deploys to `kubernetes:context`; without it, to whatever context is current,
    // so a prod `up` could land on the staging cluster. A shared stack names its cluster.
    this.kubeContext = new pulumi.Config('kubernetes').get('context') ?? '';
    if (shared && !raw.values.clusterStack)
      problems.push(
        `clusterStack: stack ${stack} must name the cluster stack of its cluster ` +
          `(organization/ainp-cluster/<stack>; docs/RUNBOOK.md, "Before the first deployment")`,
      );
    if (raw.values.clusterStack && !this.kubeContext && !shared)
      problems.push(
        `kubernetes:context: required with clusterStack (the cluster stack ${raw.values.clusterStack} manages one context)`,
      );
    if (shared && !this.kubeContext)
      problems.push(
        `kubernetes:context: stack ${stack} must name the kubeconfig context of its cluster ` +
          `(pulumi config set kubernetes:context <context> --stack ${stack}); npm run health and the gate use it too`,
      );
    // A new namespace name replaces the Namespace: the old one is deleted with everything in it.
    const namespace = parsed.ok ? parsed.config.namespace : undefined;
    if (previousNamespace && namespace && previousNamespace !== namespace)
      problems.push(
        `namespace: stack ${stack} runs in ${previousNamespace}; moving it to ${namespace} would delete ` +
          `${previousNamespace} and everything in it (the database and its volumes). Set namespace back to ` +
          `${previousNamespace}; to move, create a new stack for ${namespace}, move the data, then destroy this one`,
      );
    if (!parsed.ok || problems.length)
      throw new pulumi.ResourceError(
        `invalid config for stack ${stack}:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
        this,
        // The problems are the message: a JavaScript stack trace under them helps nobody.
        true,
      );
    // With a cluster stack, where Prometheus runs and the labels it selects by are that stack's.
    const c = (this.config = cluster
      ? { ...parsed.config, monitoringNamespace: cluster.namespace, monitoringSelectorLabels: cluster.labels }
      : parsed.config);
    const refs = appCharts(c);
    const slo = readSlo();
    const parent = { parent: this };

    this.namespace = new Namespace(
      'namespace',
      { name: c.namespace, environment: c.environment, protect: c.protectData },
      parent,
    );
    const ns = this.namespace.name;
    const labels = c.monitoringSelectorLabels;
    const afterNs = { parent: this, dependsOn: [this.namespace] };
    // Each backing service admits the broker's pods and Prometheus only (and CloudNativePG's operator).
    const access = { clientLabels: BROKER_POD_LABELS, monitoringNamespace: c.monitoringNamespace };

    const external = externalServices(new Set(Object.keys(raw.secrets) as SecretKey[]));
    this.database = external.postgres
      ? undefined
      : new Database(
          'postgres',
          {
            namespace: ns,
            instances: c.postgresInstances,
            antiAffinity: c.postgresAntiAffinity,
            maxConnections: c.postgresMaxConnections,
            protect: c.protectData,
            storageSize: c.postgresStorageSize,
            storageClass: c.storageClass,
            podMonitor: c.monitoringEnabled,
            monitorLabels: labels,
            image: c.postgresImage,
            scheduling: c,
            pullPolicy: c.imagePullPolicy,
            password: raw.secrets.postgresPassword,
            access: { ...access, operatorNamespace: cluster?.cnpgNamespace || CNPG_NAMESPACE },
            ...(c.postgresBackupDestination
              ? {
                  backup: {
                    destinationPath: c.postgresBackupDestination,
                    endpointURL: c.postgresBackupEndpoint,
                    retention: c.postgresBackupRetention,
                    schedule: c.postgresBackupSchedule,
                    accessKeyId: raw.secrets.postgresBackupAccessKeyId!,
                    secretAccessKey: raw.secrets.postgresBackupSecretAccessKey!,
                  },
                }
              : {}),
          },
          afterNs,
        );
    this.valkey = external.valkey
      ? undefined
      : new Valkey(
          'valkey',
          {
            namespace: ns,
            chart: refs.valkey,
            image: parseImageRef(c.valkeyImage)!,
            exporterImage: parseImageRef(c.valkeyExporterImage)!,
            scheduling: c,
            pullPolicy: c.imagePullPolicy,
            password: raw.secrets.valkeyPassword,
            replicas: c.valkeyReplicas,
            protect: c.protectData,
            storageSize: c.valkeyStorageSize,
            storageClass: c.storageClass,
            serviceMonitor: c.monitoringEnabled,
            monitorLabels: labels,
            access,
          },
          afterNs,
        );
    this.nats = external.nats
      ? undefined
      : new Nats(
          'nats',
          {
            namespace: ns,
            chart: refs.nats,
            images: { server: c.natsImage, reloader: c.natsReloaderImage, exporter: c.natsExporterImage },
            scheduling: c,
            pullPolicy: c.imagePullPolicy,
            token: raw.secrets.natsToken,
            replicas: c.natsReplicas,
            protect: c.protectData,
            storageSize: c.natsStorageSize,
            storageClass: c.storageClass,
            podMonitor: c.monitoringEnabled,
            monitorLabels: labels,
            access,
          },
          afterNs,
        );
    this.broker = new Broker(
      'broker',
      {
        config: c,
        namespace: ns,
        slo,
        monitoring: c.monitoringEnabled,
        databaseUrl: this.database?.databaseUrl ?? raw.secrets.databaseUrl!,
        redisUrl: this.valkey?.url ?? raw.secrets.redisUrl!,
        natsUrl: this.nats?.url ?? raw.secrets.natsUrl!,
        ...(raw.secrets.registryPassword ? { registryPassword: raw.secrets.registryPassword } : {}),
        ...(raw.secrets.registryPullPassword
          ? { registryPullPassword: raw.secrets.registryPullPassword }
          : {}),
        ...(raw.secrets.adminToken ? { adminToken: raw.secrets.adminToken } : {}),
        dependsOn: [this.database?.cluster, this.valkey?.release, this.nats?.release].filter(
          (r): r is NonNullable<typeof r> => r !== undefined,
        ),
      },
      afterNs,
    );
    this.registerOutputs({});
  }

  /** The stack outputs: what operators, the gates and the health checks read. */
  outputs() {
    const c = this.config;
    const jobs = jobValues(c);
    return {
      environment: c.environment,
      url: this.broker.url,
      imageRef: this.broker.imageRef,
      imageDigest: this.broker.imageDigest,
      namespace: this.namespace.name,
      release: BROKER_RELEASE,
      deployment: BROKER_RELEASE,
      migrationJob: `${BROKER_RELEASE}-migrate`,
      cronJobs: Object.fromEntries(
        Object.entries(jobs)
          .filter(([, j]) => j.enabled)
          .map(([n, j]) => [
            `${BROKER_RELEASE}-${n}`,
            { schedule: j.schedule, intervalSeconds: j.intervalSeconds },
          ]),
      ),
      pou: { k: c.pouK, m: c.pouM },
      adminToken: this.broker.adminToken,
      kubeContext: this.kubeContext,
      clusterStack: c.clusterStack,
    };
  }
}

export type ClusterMonitoring = {
  namespace: string;
  labels: Record<string, string>;
  /** Where the cluster stack installed CloudNativePG's operator; '' when the cluster runs its own. */
  cnpgNamespace: string;
};

/**
 * Reads the stack's cluster stack (`clusterStack`, through a StackReference) before anything is
 * created, and checks that it manages the cluster this stack deploys to: a stack pointed
 * at another cluster's stack stops here with a message, having created nothing. Undefined without
 * `clusterStack` (the monitoring settings are then the stack's own).
 */
async function readClusterStack(raw: RawConfig): Promise<ClusterMonitoring | undefined> {
  const name = raw.values.clusterStack;
  // An invalid name is reported with every other config problem by Platform.
  if (!name || !configSchema.shape.clusterStack.safeParse(name).success) return undefined;
  const kubeContext = new pulumi.Config('kubernetes').get('context') ?? '';
  // Without a context there is nothing to compare with: Platform reports the missing context.
  if (!kubeContext) return undefined;
  const ref = new pulumi.StackReference('cluster', { name });
  const [context, namespace, labels, cnpg, uid] = await Promise.all(
    ['kubeContext', 'monitoringNamespace', 'monitoringSelectorLabels', 'cnpgOperator', 'clusterUid'].map(
      (k) => ref.getOutputDetails(k).then((d) => d.value),
    ),
  );
  if (context === undefined || namespace === undefined)
    throw new pulumi.RunError(
      `clusterStack: ${name} has no outputs; deploy it first (npm run up:cluster -- --stack ${name.split('/').pop()})`,
    );
  // The clusters are compared, not the contexts' names, which are local to a machine: the UID of
  // kube-system where this stack's provider deploys against the one the cluster stack recorded. A
  // cluster stack deployed before it recorded one has only its context's name to compare (its next
  // `up:cluster` records it).
  if (typeof uid === 'string' && uid) {
    const own = await settled(clusterUid('cluster-identity'));
    if (own !== undefined && own !== uid)
      throw new pulumi.RunError(
        `clusterStack: ${name} manages the cluster whose ${IDENTITY_NAMESPACE} namespace has UID ${uid}, ` +
          `but kubernetes:context ${JSON.stringify(kubeContext)} reaches a cluster whose ${IDENTITY_NAMESPACE} has UID ` +
          `${own || '(none)'}; name the cluster stack of the cluster this stack deploys to, or the context of that cluster`,
      );
  } else if (context !== kubeContext)
    throw new pulumi.RunError(
      `clusterStack: ${name} manages kubeconfig context ${JSON.stringify(context)}, ` +
        `but this stack deploys to ${JSON.stringify(kubeContext)} (kubernetes:context); ` +
        'name the cluster stack of the cluster this stack deploys to',
    );
  return {
    namespace: String(namespace),
    labels: (labels ?? {}) as Record<string, string>,
    cnpgNamespace: typeof cnpg === 'string' ? cnpg : '',
  };
}

/**
 * The namespace this stack's last update deployed to: its own `namespace` output, read through a
 * StackReference to itself (the outputs of its last update; none before the first).
 */
async function readPreviousNamespace(): Promise<string | undefined> {
  const self = new pulumi.StackReference('previous', {
    name: `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`,
  });
  const { value } = await self.getOutputDetails('namespace');
  return typeof value === 'string' && value ? value : undefined;
}

export async function deploy() {
  const raw = readRawConfig();
  const cluster = await readClusterStack(raw);
  const previous = await readPreviousNamespace();
  const platform = new Platform(`ainp-${pulumi.getStack()}`, raw, cluster, undefined, previous);
  return platform.outputs();
}
