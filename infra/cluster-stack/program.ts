import * as pulumi from '@pulumi/pulumi';
import { clusterCharts } from '../charts.js';
import { parseImageRef } from '../config.js';
import { CNPG_NAMESPACE, CnpgOperator } from '../components/cnpg-operator.js';
import { clusterUid } from '../components/cluster-identity.js';
import { Monitoring } from '../components/monitoring.js';
import { projectConfigValues } from '../project-config.js';
import { ALERTMANAGER_CONFIG_KEY, parseClusterConfig, type ClusterConfig } from './config.js';

/** The cluster stack's project: app stacks name one of its stacks as `<org>/ainp-cluster/<stack>`. */
export const CLUSTER_PROJECT = 'ainp-cluster';

/**
 * What one Kubernetes cluster runs for every AINP app stack on it (staging and prod may share a
 * cluster): the CloudNativePG operator and the Prometheus stack, each once. Its outputs are what
 * the app stacks read through a StackReference: the kubeconfig context it manages (an app stack
 * must deploy to the same one), where Prometheus runs and the labels it selects monitors by.
 */
export class ClusterServices extends pulumi.ComponentResource {
  readonly config: ClusterConfig;
  readonly kubeContext: string;
  /** Its cluster's identity (the kube-system namespace's UID), which app stacks compare with theirs. */
  readonly clusterUid: pulumi.Output<string>;
  readonly cnpg: CnpgOperator | undefined;
  readonly monitoring: Monitoring | undefined;

  constructor(
    name: string,
    raw: Record<string, string | undefined>,
    alertmanagerConfig: pulumi.Output<string> | undefined,
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super('ainp:cluster:ClusterServices', name, {}, opts);
    const stack = pulumi.getStack();
    const parsed = parseClusterConfig(raw, new Set(alertmanagerConfig ? [ALERTMANAGER_CONFIG_KEY] : []));
    const problems = parsed.ok ? [] : parsed.problems;
    this.kubeContext = new pulumi.Config('kubernetes').get('context') ?? '';
    // A cluster stack is about one cluster: never "whatever context is current".
    if (!this.kubeContext)
      problems.push(
        `kubernetes:context: the cluster stack ${stack} must name the kubeconfig context of its cluster ` +
          `(pulumi config set kubernetes:context <context> --stack ${stack})`,
      );
    if (!parsed.ok || problems.length)
      throw new pulumi.ResourceError(
        `invalid config for cluster stack ${stack}:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
        this,
        // The problems are the message: a JavaScript stack trace under them helps nobody.
        true,
      );
    const c = (this.config = parsed.config);
    this.clusterUid = clusterUid('cluster-identity', { parent: this });
    const charts = clusterCharts(c);
    const parent = { parent: this };
    this.monitoring = c.monitoringInstallStack
      ? new Monitoring(
          'monitoring',
          {
            namespace: c.monitoringNamespace,
            chart: charts.kubePrometheusStack,
            // Checked by parseClusterConfig: set whenever the stack is installed.
            alertmanagerConfig: alertmanagerConfig!,
            managedControlPlane: c.managedControlPlane,
            storageSize: c.prometheusStorageSize,
          },
          parent,
        )
      : undefined;
    // With the stack installed here, the operator's own PodMonitor can be made (its CRD exists).
    this.cnpg = c.cnpgOperator
      ? new CnpgOperator(
          'cnpg',
          {
            chart: charts.cnpg,
            podMonitor: c.monitoringInstallStack,
            image: parseImageRef(c.cnpgOperatorImage)!,
            pullPolicy: c.imagePullPolicy,
            scheduling: c,
          },
          { parent: this, ...(this.monitoring ? { dependsOn: [this.monitoring] } : {}) },
        )
      : undefined;
    this.registerOutputs({});
  }

  outputs() {
    const c = this.config;
    return {
      kubeContext: this.kubeContext,
      clusterUid: this.clusterUid,
      monitoringNamespace: this.monitoring?.namespace ?? pulumi.output(c.monitoringNamespace),
      monitoringSelectorLabels: c.monitoringSelectorLabels,
      cnpgOperator: c.cnpgOperator ? CNPG_NAMESPACE : '',
      prometheusStack: c.monitoringInstallStack,
    };
  }
}

export function deployCluster() {
  return new ClusterServices(
    `ainp-cluster-${pulumi.getStack()}`,
    projectConfigValues(CLUSTER_PROJECT, [ALERTMANAGER_CONFIG_KEY]),
    new pulumi.Config().getSecret(ALERTMANAGER_CONFIG_KEY),
  ).outputs();
}
