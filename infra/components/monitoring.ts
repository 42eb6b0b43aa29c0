import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { releaseChart, type ChartRef } from '../charts.js';

export type MonitoringArgs = { namespace: string; chart: ChartRef };

/**
 * kube-prometheus-stack (Prometheus operator and its CRDs, Prometheus, Alertmanager, Grafana with
 * the dashboard sidecar) in its own namespace, set to pick up every ServiceMonitor, PodMonitor,
 * PrometheusRule and dashboard ConfigMap in the cluster, so the app stacks' monitors need no
 * labels. A cluster-wide piece: the cluster stack installs it once per cluster, when the cluster
 * has no Prometheus operator of its own.
 */
export class Monitoring extends pulumi.ComponentResource {
  readonly namespace: pulumi.Output<string>;
  readonly stack: k8s.helm.v3.Release;

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super('ainp:cluster:Monitoring', name, {}, opts);
    const ns = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      { metadata: { name: args.namespace, labels: { 'app.kubernetes.io/part-of': 'ainp' } } },
      { parent: this },
    );
    this.namespace = ns.metadata.name;
    this.stack = new k8s.helm.v3.Release(
      name,
      {
        name: 'kube-prometheus-stack',
        ...releaseChart(args.chart),
        namespace: this.namespace,
        values: {
          prometheus: {
            prometheusSpec: {
              serviceMonitorSelectorNilUsesHelmValues: false,
              podMonitorSelectorNilUsesHelmValues: false,
              ruleSelectorNilUsesHelmValues: false,
              retention: '15d',
            },
          },
          grafana: { sidecar: { dashboards: { enabled: true, searchNamespace: 'ALL' } } },
        },
      },
      { parent: this },
    );
    this.registerOutputs({ namespace: this.namespace });
  }
}
