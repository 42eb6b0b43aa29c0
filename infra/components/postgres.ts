import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { podScheduling, type Scheduling } from '../config.js';
import { generatedCredential } from './credential.js';
import { admitOnly, namespaceNamed, podsLabelled, type ServiceAccessArgs } from './network-policy.js';

export type DatabaseArgs = {
  namespace: pulumi.Input<string>;
  instances: number;
  /** CloudNativePG's podAntiAffinityType: `required` (the default) or `preferred` (fewer nodes than instances). */
  antiAffinity?: 'required' | 'preferred';
  /** PostgreSQL's max_connections (the stack config checks the pools fit in it). */
  maxConnections: number;
  /** Protect the Cluster (an update cannot delete or replace it) and retain it on delete. */
  protect: boolean;
  storageSize: string;
  storageClass: string;
  podMonitor: boolean;
  /** The PostgreSQL operand image (the stack's postgresImage) and when the kubelet pulls it. */
  image: string;
  pullPolicy: string;
  /** Where its pods run (the stack's nodeSelector and tolerations; CloudNativePG's affinity section). */
  scheduling: Scheduling;
  /** The owner's password set as a config secret (postgresPassword); generated when absent. */
  password?: pulumi.Output<string> | undefined;
  /** Who may connect (the broker, Prometheus) and where the CloudNativePG operator runs. */
  access: ServiceAccessArgs & { operatorNamespace: string };
  /** Labels on the PodMonitor, for a Prometheus that selects monitors by label (`release: ...`). */
  monitorLabels?: Record<string, string>;
  backup?: {
    destinationPath: string;
    endpointURL: string;
    retention: string;
    schedule: string;
    accessKeyId: pulumi.Input<string>;
    secretAccessKey: pulumi.Input<string>;
  };
};

export const CLUSTER_NAME = 'ainp-db';
const DATABASE = 'ainp';
// CloudNativePG's instance ports: PostgreSQL, the instance manager's status API, the exporter.
const POSTGRES_PORT = 5432;
const STATUS_PORT = 8000;
const METRICS_PORT = 9187;
const OWNER = 'ainp';

/**
 * PostgreSQL: a CloudNativePG `Cluster` (the operator is the cluster stack's, see cnpg-operator.ts) with
 * a generated owner password, pod anti-affinity, a PDB (with replicas), a PodMonitor, and (when configured) WAL
 * archiving and a nightly base backup to object storage. `databaseUrl` is a secret.
 */
export class Database extends pulumi.ComponentResource {
  readonly cluster: k8s.apiextensions.CustomResource;
  readonly host: pulumi.Output<string>;
  readonly databaseUrl: pulumi.Output<string>;
  readonly networkPolicy: k8s.networking.v1.NetworkPolicy;

  constructor(name: string, args: DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super('ainp:postgres:Database', name, {}, opts);
    const parent = { parent: this };

    const owner = generatedCredential(
      {
        names: { password: `${name}-password`, secret: `${name}-app` },
        namespace: args.namespace,
        secretName: `${CLUSTER_NAME}-owner`,
        key: 'password',
        length: 32,
        type: 'kubernetes.io/basic-auth',
        extra: { username: OWNER },
        given: args.password,
      },
      parent,
    );
    let backupSecret: k8s.core.v1.Secret | undefined;
    if (args.backup) {
      backupSecret = new k8s.core.v1.Secret(
        `${name}-backup-credentials`,
        {
          metadata: { name: `${CLUSTER_NAME}-backup`, namespace: args.namespace },
          type: 'Opaque',
          stringData: {
            ACCESS_KEY_ID: pulumi.secret(args.backup.accessKeyId),
            SECRET_ACCESS_KEY: pulumi.secret(args.backup.secretAccessKey),
          },
        },
        parent,
      );
    }

    const spec: Record<string, unknown> = {
      instances: args.instances,
      imageName: args.image,
      imagePullPolicy: args.pullPolicy,
      primaryUpdateStrategy: 'unsupervised',
      // A deleted or evicted primary first waits for its sessions to end (PostgreSQL's smart
      // shutdown), 180 s by default, before the fast shutdown and the failover. The brokers' pools
      // never end theirs, so every primary deletion took the whole 180 s, during which the Service
      // had no endpoint and every new connection failed (npm run test:chaos measured 185 s to the
      // new primary). 15 s leaves in-flight transactions (5 s lock_timeout at most) time to finish.
      smartShutdownTimeout: 15,
      // A PDB over one instance allows no eviction at all, so it would block every node drain;
      // CloudNativePG's own advice is to turn it off for a single instance.
      enablePDB: args.instances > 1,
      postgresql: { parameters: { max_connections: String(args.maxConnections) } },
      storage: { size: args.storageSize, ...(args.storageClass ? { storageClass: args.storageClass } : {}) },
      bootstrap: { initdb: { database: DATABASE, owner: OWNER, secret: { name: `${CLUSTER_NAME}-owner` } } },
      // Never two instances on one node (CloudNativePG's required anti-affinity takes one key;
      // `preferred` only where the cluster has fewer nodes than instances)...
      affinity: {
        enablePodAntiAffinity: true,
        topologyKey: 'kubernetes.io/hostname',
        podAntiAffinityType: args.antiAffinity ?? 'required',
        ...podScheduling(args.scheduling),
      },
      // ...and spread over zones, so a zone's loss leaves a replica to promote. DoNotSchedule with
      // skew 1: 3 instances over 2 zones go 2/1; on a single-zone cluster there is one domain and
      // nothing is held back. An instance's volume is zonal, so a rescheduled one stays in its zone.
      topologySpreadConstraints: [
        {
          maxSkew: 1,
          topologyKey: 'topology.kubernetes.io/zone',
          whenUnsatisfiable: 'DoNotSchedule',
          labelSelector: { matchLabels: { 'cnpg.io/cluster': CLUSTER_NAME } },
        },
      ],
      resources: {
        requests: { cpu: '250m', memory: '512Mi' },
        limits: { cpu: '2', memory: '1Gi' },
      },
      // The PodMonitor is created below: CloudNativePG's own (enablePodMonitor) is deprecated, with
      // its removal announced for 1.31, and it cannot take the labels a Prometheus selects by.
      monitoring: { enablePodMonitor: false },
    };
    if (args.backup) {
      spec.backup = {
        retentionPolicy: args.backup.retention,
        barmanObjectStore: {
          destinationPath: args.backup.destinationPath,
          ...(args.backup.endpointURL ? { endpointURL: args.backup.endpointURL } : {}),
          s3Credentials: {
            accessKeyId: { name: `${CLUSTER_NAME}-backup`, key: 'ACCESS_KEY_ID' },
            secretAccessKey: { name: `${CLUSTER_NAME}-backup`, key: 'SECRET_ACCESS_KEY' },
          },
          wal: { compression: 'gzip' },
          data: { compression: 'gzip' },
        },
      };
    }

    this.cluster = new k8s.apiextensions.CustomResource(
      `${name}-cluster`,
      {
        apiVersion: 'postgresql.cnpg.io/v1',
        kind: 'Cluster',
        metadata: {
          name: CLUSTER_NAME,
          namespace: args.namespace,
          // pulumi-kubernetes 4.x counts a custom resource done once the API accepts it; without
          // this the broker release's pre-install migration hook would run while PostgreSQL is
          // still initialising. Wait for CloudNativePG's Ready condition (its first bootstrap,
          // image pull included, within 15 minutes).
          annotations: { 'pulumi.com/waitFor': 'condition=Ready', 'pulumi.com/timeoutSeconds': '900' },
        },
        spec,
      },
      {
        parent: this,
        dependsOn: [owner.secret, ...(backupSecret ? [backupSecret] : [])],
        protect: args.protect,
        retainOnDelete: args.protect,
      },
    );

    if (args.podMonitor) {
      // What CloudNativePG documents for a PodMonitor made by hand: every pod of the cluster, on
      // its `metrics` port.
      new k8s.apiextensions.CustomResource(
        `${name}-pod-monitor`,
        {
          apiVersion: 'monitoring.coreos.com/v1',
          kind: 'PodMonitor',
          metadata: { name: CLUSTER_NAME, namespace: args.namespace, labels: args.monitorLabels ?? {} },
          spec: {
            selector: { matchLabels: { 'cnpg.io/cluster': CLUSTER_NAME } },
            podMetricsEndpoints: [{ port: 'metrics' }],
          },
        },
        { parent: this, dependsOn: [this.cluster] },
      );
    }

    if (args.backup) {
      new k8s.apiextensions.CustomResource(
        `${name}-scheduled-backup`,
        {
          apiVersion: 'postgresql.cnpg.io/v1',
          kind: 'ScheduledBackup',
          metadata: { name: `${CLUSTER_NAME}-nightly`, namespace: args.namespace },
          spec: {
            schedule: args.backup.schedule,
            backupOwnerReference: 'self',
            cluster: { name: CLUSTER_NAME },
          },
        },
        { parent: this, dependsOn: [this.cluster] },
      );
    }

    // Only the broker's pods reach PostgreSQL; the instances reach each other (streaming
    // replication, the join Jobs' base backup, the instance manager), the operator reaches each
    // instance manager's status port, Prometheus the metrics port.
    const instances = podsLabelled({ 'cnpg.io/cluster': CLUSTER_NAME });
    this.networkPolicy = admitOnly(
      `${name}-network-policy`,
      {
        namespace: args.namespace,
        policyName: CLUSTER_NAME,
        podLabels: { 'cnpg.io/cluster': CLUSTER_NAME },
        admit: [
          { ports: [POSTGRES_PORT], from: [podsLabelled(args.access.clientLabels), instances] },
          { ports: [STATUS_PORT], from: [instances, namespaceNamed(args.access.operatorNamespace)] },
          { ports: [METRICS_PORT], from: [namespaceNamed(args.access.monitoringNamespace)] },
        ],
      },
      parent,
    );

    this.host = pulumi.interpolate`${CLUSTER_NAME}-rw.${args.namespace}.svc`;
    // CloudNativePG serves TLS with its own CA: encrypted, not verified against a public CA.
    this.databaseUrl = pulumi.secret(
      pulumi.interpolate`postgresql://${OWNER}:${owner.value}@${this.host}:5432/${DATABASE}?sslmode=no-verify`,
    );
    this.registerOutputs({ host: this.host });
  }
}
