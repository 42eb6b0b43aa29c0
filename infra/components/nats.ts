import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { releaseChart, type ChartRef } from '../charts.js';
import { generatedCredential } from './credential.js';

export type NatsArgs = {
  namespace: pulumi.Input<string>;
  chart: ChartRef;
  /** 1: a single server; 3 or more: a clustered JetStream (prod). */
  replicas: number;
  storageSize: string;
  storageClass: string;
  podMonitor: boolean;
  /** Protect the release (it owns the volumes) and retain it on delete. */
  protect: boolean;
  /** Labels on the PodMonitor, for a Prometheus that selects monitors by label. */
  monitorLabels: Record<string, string>;
};

export const NATS_RELEASE = 'ainp-nats';
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
            env: { TOKEN: { valueFrom: { secretKeyRef: { name: AUTH_SECRET, key: 'token' } } } },
            merge: {
              resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: '1', memory: '1Gi' } },
            },
          },
          podDisruptionBudget: { enabled: true },
          promExporter: {
            enabled: true,
            // The chart merges `merge` into its PodMonitor (nats.loadMergePatch): added to its labels.
            podMonitor: { enabled: args.podMonitor, merge: { metadata: { labels: args.monitorLabels } } },
          },
        },
      },
      { parent: this, dependsOn: [token.secret], protect: args.protect, retainOnDelete: args.protect },
    );
    this.url = pulumi.secret(
      pulumi.interpolate`nats://${token.value}@${NATS_RELEASE}.${args.namespace}.svc:4222`,
    );
    this.registerOutputs({});
  }
}
