import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { releaseChart, type ChartRef } from '../charts.js';
import { podScheduling, type Scheduling } from '../config.js';
import { generatedCredential } from './credential.js';
import { admitOnly, namespaceNamed, podsLabelled, type ServiceAccessArgs } from './network-policy.js';

export type NatsArgs = {
  namespace: pulumi.Input<string>;
  chart: ChartRef;
  /** The server's image and its two sidecars' (config reloader, Prometheus exporter), as set. */
  images: { server: string; reloader: string; exporter: string };
  pullPolicy: string;
  /** Where its pods run (the stack's nodeSelector and tolerations). */
  scheduling: Scheduling;
  /** The token set as a config secret (natsToken); generated when absent. */
  token?: pulumi.Output<string> | undefined;
  /** 1: a single server; 3 or more: a clustered JetStream (prod). */
  replicas: number;
  storageSize: string;
  storageClass: string;
  podMonitor: boolean;
  /** Who may connect: the broker's pods, and Prometheus to the exporter. */
  access: ServiceAccessArgs;
  /** Protect the release (it owns the volumes) and retain it on delete. */
  protect: boolean;
  /** Labels on the PodMonitor, for a Prometheus that selects monitors by label. */
  monitorLabels: Record<string, string>;
};

export const NATS_RELEASE = 'ainp-nats';
/**
 * The labels the chart puts on every NATS server pod (its `nats.selectorLabels` helper: chart name,
 * release, component `nats`; the nats-box Deployment's component is `nats-box`).
 */
export const NATS_SELECTOR = {
  'app.kubernetes.io/name': 'nats',
  'app.kubernetes.io/instance': NATS_RELEASE,
  'app.kubernetes.io/component': 'nats',
};
const AUTH_SECRET = 'ainp-nats-auth';

/**
 * NATS from its official chart with JetStream on a persistent file store, clustered when
 * `replicas` ≥ 3, a PDB, token auth (the token is generated, kept in a Secret and handed to the
 * server as an environment variable, never written into the chart's ConfigMap), and the
 * Prometheus exporter. `url` is a secret.
 */
export class Nats extends pulumi.ComponentResource {
  readonly release: k8s.helm.v3.Release;
  readonly url: pulumi.Output<string>;
  readonly networkPolicy: k8s.networking.v1.NetworkPolicy;

  constructor(name: string, args: NatsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('ainp:nats:Nats', name, {}, opts);
    const parent = { parent: this };
    const token = generatedCredential(
      {
        names: { password: `${name}-token`, secret: `${name}-auth` },
        namespace: args.namespace,
        secretName: AUTH_SECRET,
        key: 'token',
        length: 40,
        given: args.token,
      },
      parent,
    );
    const clustered = args.replicas >= 3;
    this.release = new k8s.helm.v3.Release(
      name,
      {
        name: NATS_RELEASE,
        ...releaseChart(args.chart),
        namespace: args.namespace,
        values: {
          // Every image by its whole reference (the chart's fullImageName), pulled as the stack says.
          global: { image: { pullPolicy: args.pullPolicy } },
          config: {
            cluster: { enabled: clustered, replicas: clustered ? args.replicas : 1 },
            jetstream: {
              enabled: true,
              fileStore: {
                enabled: true,
                pvc: {
                  enabled: true,
                  size: args.storageSize,
                  ...(args.storageClass ? { storageClassName: args.storageClass } : {}),
                },
              },
            },
            merge: { authorization: { token: '<< $TOKEN >>' } },
          },
          container: {
            image: { fullImageName: args.images.server },
            env: { TOKEN: { valueFrom: { secretKeyRef: { name: AUTH_SECRET, key: 'token' } } } },
            merge: {
              resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: '1', memory: '1Gi' } },
            },
          },
          reloader: { image: { fullImageName: args.images.reloader } },
          podDisruptionBudget: { enabled: true },
          ...(Object.keys(podScheduling(args.scheduling)).length
            ? { podTemplate: { merge: { spec: podScheduling(args.scheduling) } } }
            : {}),
          // nats-box is a shell with the NATS CLI and a client context for the server: nobody needs
          // it running in the namespace (an operator runs one by hand when debugging).
          natsBox: { enabled: false },
          // The exporter only where something scrapes it (monitoringEnabled), as for Valkey.
          promExporter: {
            enabled: args.podMonitor,
            image: { fullImageName: args.images.exporter },
            // The chart merges `merge` into its PodMonitor (nats.loadMergePatch): added to its labels.
            podMonitor: { enabled: args.podMonitor, merge: { metadata: { labels: args.monitorLabels } } },
          },
        },
      },
      { parent: this, dependsOn: [token.secret], protect: args.protect, retainOnDelete: args.protect },
    );
    // Clients (4222) from the broker only; cluster routes (6222) between the servers; the
    // exporter (promExporter.port, 7777) from Prometheus. The monitoring port 8222 answers without
    // auth: no peer is admitted to it (the exporter reads it inside the pod, the probes come from
    // the kubelet).
    this.networkPolicy = admitOnly(
      `${name}-network-policy`,
      {
        namespace: args.namespace,
        policyName: NATS_RELEASE,
        podLabels: NATS_SELECTOR,
        admit: [
          { ports: [4222], from: [podsLabelled(args.access.clientLabels)] },
          { ports: [6222], from: [podsLabelled(NATS_SELECTOR)] },
          { ports: [7777], from: [namespaceNamed(args.access.monitoringNamespace)] },
        ],
      },
      { parent: this, dependsOn: [this.release] },
    );
    this.url = pulumi.secret(
      pulumi.interpolate`nats://${token.value}@${NATS_RELEASE}.${args.namespace}.svc:4222`,
    );
    this.registerOutputs({});
  }
}
