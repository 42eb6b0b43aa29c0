import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { releaseChart, type ChartRef } from '../charts.js';
import { chartTag, podScheduling, type ImageRef, type Scheduling } from '../config.js';

export type CnpgOperatorArgs = {
  chart: ChartRef;
  podMonitor: boolean;
  /** The operator's image (the cluster stack's cnpgOperatorImage; with a tag) and its pull policy. */
  image: ImageRef;
  pullPolicy: string;
  /** Where the operator runs (the cluster stack's nodeSelector and tolerations). */
  scheduling: Scheduling;
};

/** Where the operator runs: one per cluster, watching every namespace. */
export const CNPG_NAMESPACE = 'cnpg-system';

/**
 * The CloudNativePG operator and its CRDs (the chart installs them from its templates): a
 * cluster-wide piece, so it belongs to the cluster stack, once per cluster, and every app stack's
 * `Cluster` uses it.
 *
 * Deleting this Helm release would uninstall the operator under every app stack's database: the
 * chart's CRDs carry `helm.sh/resource-policy: keep`, so the `Cluster`s and their data stay, but
 * nothing fails over, archives WAL or takes a backup any more. So the release is retained on
 * delete: `pulumi destroy` of the cluster stack (or dropping the operator from it) only forgets it;
 * uninstalling it is a deliberate `helm uninstall` after every database has moved (docs/RUNBOOK.md).
 */
export class CnpgOperator extends pulumi.ComponentResource {
  readonly release: k8s.helm.v3.Release;

  constructor(name: string, args: CnpgOperatorArgs, opts?: pulumi.ComponentResourceOptions) {
    super('ainp:cluster:CnpgOperator', name, {}, opts);
    this.release = new k8s.helm.v3.Release(
      name,
      {
        name: 'cnpg',
        ...releaseChart(args.chart),
        namespace: CNPG_NAMESPACE,
        createNamespace: true,
        values: {
          image: {
            repository: args.image.repository,
            tag: chartTag(args.image),
            pullPolicy: args.pullPolicy,
          },
          monitoring: { podMonitorEnabled: args.podMonitor },
          ...podScheduling(args.scheduling),
        },
      },
      { parent: this, retainOnDelete: true },
    );
    this.registerOutputs({});
  }
}
