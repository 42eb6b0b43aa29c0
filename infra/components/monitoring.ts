import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import type { ChartRef } from '../charts.js';

export type MonitoringArgs = {
  namespace: string;
  chart: ChartRef;
  /** Install kube-prometheus-stack here; otherwise the cluster's own Prometheus operator is used. */
  installStack: boolean;
};

/**
 * Monitoring: the namespace the broker's NetworkPolicy lets scrape it and, when asked,
 * kube-prometheus-stack (Prometheus operator, Prometheus, Alertmanager, Grafana with the dashboard
 * sidecar) set to pick up every ServiceMonitor, PodMonitor, PrometheusRule and dashboard ConfigMap
 * in the cluster, so the broker chart's objects and the backing services' monitors need no labels.
 */
export class Monitoring extends pulumi.ComponentResource {
  readonly namespace: pulumi.Output<string>;
  readonly stack: k8s.helm.v3.Release | undefined;

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super('ainp:monitoring:Monitoring', name, {}, opts);
    if (!args.installStack) {
      this.namespace = pulumi.output(args.namespace);
      this.stack = undefined;
      this.registerOutputs({});
      return;
    }
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
        chart: args.chart.chart,
        version: args.chart.version,
        repositoryOpts: { repo: args.chart.repo },
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
