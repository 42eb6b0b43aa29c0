import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import type { ChartRef } from '../charts.js';
import { generatedCredential } from './credential.js';

export type ValkeyArgs = {
  namespace: pulumi.Input<string>;
  chart: ChartRef;
  /** 0: one standalone server; N: a primary and N replicas (with a PDB). */
  replicas: number;
  storageSize: string;
  storageClass: string;
  serviceMonitor: boolean;
};

export const VALKEY_RELEASE = 'ainp-valkey';
const USERS_SECRET = 'ainp-valkey-users';

/**
 * Valkey from its official chart: ACL auth on (the `default` user's password generated and kept in
 * a Secret the chart reads), persistent storage on, replicas and a PDB when `replicas` > 0, and
 * the redis exporter for Prometheus. `url` is a secret.
 */
export class Valkey extends pulumi.ComponentResource {
  readonly release: k8s.helm.v3.Release;
  readonly url: pulumi.Output<string>;

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
      },
      parent,
    );
    const replicated = args.replicas > 0;
    this.release = new k8s.helm.v3.Release(
      name,
      {
        name: VALKEY_RELEASE,
        chart: args.chart.chart,
        version: args.chart.version,
        repositoryOpts: { repo: args.chart.repo },
        namespace: args.namespace,
        values: {
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
          podDisruptionBudget: { enabled: replicated, maxUnavailable: 1 },
          resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } },
          metrics: {
            enabled: true,
            exporter: {
              resources: {
                requests: { cpu: '10m', memory: '32Mi' },
                limits: { cpu: '100m', memory: '64Mi' },
              },
            },
            serviceMonitor: { enabled: args.serviceMonitor },
          },
        },
      },
      { parent: this, dependsOn: [credential.secret] },
    );
    this.url = pulumi.secret(
      pulumi.interpolate`redis://default:${credential.value}@${VALKEY_RELEASE}.${args.namespace}.svc:6379`,
    );
    this.registerOutputs({});
  }
}
