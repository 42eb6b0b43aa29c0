import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { releaseChart, type ChartRef } from '../charts.js';
import { chartTag, podScheduling, type ImageRef, type Scheduling } from '../config.js';
import { generatedCredential } from './credential.js';
import { admitOnly, namespaceNamed, podsLabelled, type ServiceAccessArgs } from './network-policy.js';

export type ValkeyArgs = {
  /** Protect the release (it owns the volume) and retain it on delete. */
  protect: boolean;
  namespace: pulumi.Input<string>;
  chart: ChartRef;
  /** Valkey's image and its exporter's (each with a tag: the chart renders repository:tag). */
  image: ImageRef;
  exporterImage: ImageRef;
  pullPolicy: string;
  /** Where its pods run (the stack's nodeSelector and tolerations). */
  scheduling: Scheduling;
  /** The `default` user's password set as a config secret (valkeyPassword); generated when absent. */
  password?: pulumi.Output<string> | undefined;
  /** 0: one standalone server; N: a primary and N replicas (with a PDB). */
  replicas: number;
  storageSize: string;
  storageClass: string;
  serviceMonitor: boolean;
  /** Who may connect: the broker's pods, and Prometheus to the exporter. */
  access: ServiceAccessArgs;
  /** Labels on the ServiceMonitor, for a Prometheus that selects monitors by label. */
  monitorLabels: Record<string, string>;
};

/** The first chart version whose exporter reads the password from the users Secret (PR #141). */
export const MIN_VALKEY_CHART = '0.9.4';

export const VALKEY_RELEASE = 'ainp-valkey';
const USERS_SECRET = 'ainp-valkey-users';
/**
 * The labels the chart puts on every Valkey pod and selects them by (its `valkey.selectorLabels`
 * helper: the chart name, `valkey` with no `nameOverride`, and the release name).
 */
export const VALKEY_SELECTOR = {
  'app.kubernetes.io/name': 'valkey',
  'app.kubernetes.io/instance': VALKEY_RELEASE,
};

/**
 * Valkey from its official chart: ACL auth on (the `default` user's password generated and kept in
 * a Secret the chart reads), persistent storage on, replicas and a PDB when `replicas` > 0, and
 * the redis exporter for Prometheus. `url` is a secret.
 *
 * Checked against the chart's source (valkey-io/valkey-helm, folder valkey/; read from the
 * repository, not rendered: the chart repository is not reachable from the test machine):
 * - Exporter credentials: from 0.9.4 (PR #141) the exporter sidecar gets REDIS_PASSWORD by
 *   `secretKeyRef` from `auth.usersExistingSecret`, key `auth.aclUsers.default.passwordKey`
 *   (`default` when unset, which is the key our Secret has). Up to 0.9.3 it got no password and
 *   reported `redis_up 0`; the stack config refuses those versions (MIN_VALKEY_CHART). The
 *   password never appears in the values or the Release.
 * - PDB: the chart's own (`podDisruptionBudget.enabled`, off by default) came with PR #106; it is
 *   left off and the PDB is created here, selecting the pods by the chart's selector labels
 *   (VALKEY_SELECTOR), so there is exactly one.
 * - Strategy: the standalone Deployment's `strategy.type` is the `deploymentStrategy` value,
 *   `RollingUpdate` by default; with a ReadWriteOnce volume the new pod cannot mount it while the
 *   old one holds it, so every upgrade hangs. It is set to `Recreate` (the StatefulSet of the
 *   replicated mode does not read it).
 * - Monitor labels: `metrics.serviceMonitor.extraLabels` (the chart's `additionalLabels` value is
 *   read by no template in 0.x). The 1.0 chart renames these keys and refuses the old ones, so a
 *   bump to 1.x is a values change, not only a version change.
 */
export class Valkey extends pulumi.ComponentResource {
  readonly release: k8s.helm.v3.Release;
  /** Only with replicas: a budget that lets one Valkey pod (primary or replica) go at a time. */
  readonly pdb?: k8s.policy.v1.PodDisruptionBudget;
  readonly url: pulumi.Output<string>;
  readonly networkPolicy: k8s.networking.v1.NetworkPolicy;

  constructor(name: string, args: ValkeyArgs, opts?: pulumi.ComponentResourceOptions) {
    super('ainp:valkey:Valkey', name, {}, opts);
    const parent = { parent: this };
    const credential = generatedCredential(
      {
        names: { password: `${name}-password`, secret: `${name}-users` },
        namespace: args.namespace,
        secretName: USERS_SECRET,
        key: 'default',
        length: 32,
        given: args.password,
      },
      parent,
    );
    const replicated = args.replicas > 0;
    this.release = new k8s.helm.v3.Release(
      name,
      {
        name: VALKEY_RELEASE,
        ...releaseChart(args.chart),
        namespace: args.namespace,
        values: {
          image: {
            registry: '',
            repository: args.image.repository,
            tag: chartTag(args.image),
            pullPolicy: args.pullPolicy,
          },
          auth: {
            enabled: true,
            usersExistingSecret: USERS_SECRET,
            aclUsers: { default: { permissions: '~* &* +@all' } },
          },
          dataStorage: {
            enabled: true,
            requestedSize: args.storageSize,
            ...(args.storageClass ? { className: args.storageClass } : {}),
          },
          replica: replicated
            ? {
                enabled: true,
                replicas: args.replicas,
                minReplicasToWrite: 1,
                persistence: {
                  size: args.storageSize,
                  ...(args.storageClass ? { storageClass: args.storageClass } : {}),
                },
              }
            : { enabled: false },
          // Standalone: a Deployment with a ReadWriteOnce volume, stop the old pod first.
          deploymentStrategy: 'Recreate',
          ...podScheduling(args.scheduling),
          resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } },
          // The exporter only where something scrapes it (monitoringEnabled): without a Prometheus it
          // would be a container that does nothing, with an image to mirror.
          metrics: {
            enabled: args.serviceMonitor,
            exporter: {
              image: {
                registry: '',
                repository: args.exporterImage.repository,
                tag: chartTag(args.exporterImage),
                pullPolicy: args.pullPolicy,
              },
              resources: {
                requests: { cpu: '10m', memory: '32Mi' },
                limits: { cpu: '100m', memory: '64Mi' },
              },
            },
            serviceMonitor: { enabled: args.serviceMonitor, extraLabels: args.monitorLabels },
          },
        },
      },
      { parent: this, dependsOn: [credential.secret], protect: args.protect, retainOnDelete: args.protect },
    );
    // The chart's own PDB stays off (see above): this is the only one.
    if (replicated)
      this.pdb = new k8s.policy.v1.PodDisruptionBudget(
        `${name}-pdb`,
        {
          metadata: { name: VALKEY_RELEASE, namespace: args.namespace },
          spec: { maxUnavailable: 1, selector: { matchLabels: VALKEY_SELECTOR } },
        },
        { parent: this, dependsOn: [this.release] },
      );
    // The chart's own networkPolicy value is left unset (it renders nothing): this is the only one.
    // Valkey from the broker and from the replicas (they replicate from the primary); the exporter
    // port (the chart's default, metrics.exporter.port) from Prometheus.
    this.networkPolicy = admitOnly(
      `${name}-network-policy`,
      {
        namespace: args.namespace,
        policyName: VALKEY_RELEASE,
        podLabels: VALKEY_SELECTOR,
        admit: [
          { ports: [6379], from: [podsLabelled(args.access.clientLabels), podsLabelled(VALKEY_SELECTOR)] },
          { ports: [9121], from: [namespaceNamed(args.access.monitoringNamespace)] },
        ],
      },
      { parent: this, dependsOn: [this.release] },
    );
    this.url = pulumi.secret(
      pulumi.interpolate`redis://default:${credential.value}@${VALKEY_RELEASE}.${args.namespace}.svc:6379`,
    );
    this.registerOutputs({});
  }
}
