import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { retentionSize } from '../cluster-stack/config.js';
import { releaseChart, type ChartRef } from '../charts.js';

export type MonitoringArgs = {
  namespace: string;
  chart: ChartRef;
  /** Alertmanager's whole configuration (alertmanager.yaml: route and receivers), a secret. */
  alertmanagerConfig: pulumi.Input<string>;
  /** The control plane is the provider's: no controller manager, scheduler, etcd or kube-proxy scrape. */
  managedControlPlane: boolean;
  /** Prometheus' volume, in Gi (`50Gi`). */
  storageSize: string;
};

/** The Secret Alertmanager reads its configuration from (key `alertmanager.yaml`). */
export const ALERTMANAGER_SECRET = 'ainp-alertmanager-config';
/** The kube-prometheus-stack scrapers (and their alerts) of the control plane's own components. */
export const CONTROL_PLANE_SCRAPERS = [
  'kubeControllerManager',
  'kubeScheduler',
  'kubeEtcd',
  'kubeProxy',
] as const;

/**
 * kube-prometheus-stack (Prometheus operator and its CRDs, Prometheus, Alertmanager, Grafana with
 * the dashboard sidecar) in its own namespace, set to pick up every ServiceMonitor, PodMonitor,
 * PrometheusRule and dashboard ConfigMap in the cluster, so the app stacks' monitors need no
 * labels. A cluster-wide piece: the cluster stack installs it once per cluster, when the cluster
 * has no Prometheus operator of its own.
 *
 * Checked against the chart's templates (79.5.0): with `alertmanagerSpec.useExistingSecret` the
 * chart writes no Alertmanager config of its own (its default routes everything to `null`) and the
 * Alertmanager reads `configSecret`; each control-plane scraper's `enabled: false` drops its
 * Service, ServiceMonitor and its alert rules (KubeControllerManagerDown and the like) together.
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
    const alertmanager = new k8s.core.v1.Secret(
      `${name}-alertmanager-config`,
      {
        metadata: { name: ALERTMANAGER_SECRET, namespace: this.namespace },
        type: 'Opaque',
        stringData: { 'alertmanager.yaml': pulumi.secret(args.alertmanagerConfig) },
      },
      { parent: this },
    );
    this.stack = new k8s.helm.v3.Release(
      name,
      {
        name: 'kube-prometheus-stack',
        ...releaseChart(args.chart),
        namespace: this.namespace,
        values: {
          alertmanager: {
            alertmanagerSpec: { useExistingSecret: true, configSecret: ALERTMANAGER_SECRET },
          },
          prometheus: {
            prometheusSpec: {
              serviceMonitorSelectorNilUsesHelmValues: false,
              podMonitorSelectorNilUsesHelmValues: false,
              ruleSelectorNilUsesHelmValues: false,
              retention: '15d',
              // Whichever comes first: a full volume would stop Prometheus writing at all.
              retentionSize: retentionSize(args.storageSize),
              // On an emptyDir every restart (an upgrade, a node drain) lost the history.
              storageSpec: {
                volumeClaimTemplate: {
                  spec: {
                    accessModes: ['ReadWriteOnce'],
                    resources: { requests: { storage: args.storageSize } },
                  },
                },
              },
              // Prometheus' memory grows with the series it holds: a request the scheduler can
              // place it by, and a limit that stops it taking the node.
              resources: { requests: { cpu: '500m', memory: '2Gi' }, limits: { cpu: '2', memory: '4Gi' } },
            },
          },
          ...Object.fromEntries(
            CONTROL_PLANE_SCRAPERS.map((s) => [s, { enabled: !args.managedControlPlane }]),
          ),
          grafana: { sidecar: { dashboards: { enabled: true, searchNamespace: 'ALL' } } },
        },
      },
      { parent: this, dependsOn: [alertmanager] },
    );
    this.registerOutputs({ namespace: this.namespace });
  }
}
