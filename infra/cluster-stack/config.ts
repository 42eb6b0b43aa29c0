import { z } from 'zod';
import {
  bool,
  chartDirectory,
  chartVersion,
  compareVersions,
  dnsLabel,
  imagePullPolicy,
  imageRef,
  stringMap,
  tolerations,
} from '../config.js';

/** The cluster stack's secret: Alertmanager's whole configuration (alertmanager.yaml: route, receivers). */
export const ALERTMANAGER_CONFIG_KEY = 'alertmanagerConfig';

/**
 * The cluster stack's configuration (project ainp-cluster, one stack per Kubernetes cluster):
 * what every app stack on the cluster shares. `Pulumi.yaml` in this folder declares the same keys
 * with the same defaults (a test keeps the two equal).
 */
export const clusterConfigSchema = z.object({
  // The CloudNativePG operator and its CRDs; false when the cluster already runs one.
  cnpgOperator: bool(true),
  // Chart 0.29.x is operator 1.30 (earlier ones are end of life: chart 0.26.x was operator 1.27,
  // unsupported since 2026-03-09). Operator 1.31 removes the Cluster's barmanObjectStore, which
  // the app stacks' backups still use: raising this past 0.29 is the Barman Cloud plugin move
  // (docs/RUNBOOK.md).
  cnpgChartVersion: chartVersion('0.29.0').refine(
    // (A value that is not x.y.z is reported by chartVersion alone.)
    (v) =>
      !/^[0-9]+\.[0-9]+\.[0-9]+$/.test(v) ||
      (compareVersions(v, '0.29.0') >= 0 && compareVersions(v, '0.30.0') < 0),
    'must be a 0.29.x version (operator 1.30): earlier charts run an operator past its end of life, and 0.30 (operator 1.31) drops the barmanObjectStore backups use',
  ),
  // The operator's image (the chart renders repository:tag, so it needs a tag; tag@sha256:<64 hex>
  // pins the digest too). The same image is copied into every PostgreSQL pod as its instance manager.
  cnpgOperatorImage: imageRef('ghcr.io/cloudnative-pg/cloudnative-pg:1.30.0', true),
  imagePullPolicy: imagePullPolicy(),
  chartDirectory: chartDirectory(),
  // Where the CloudNativePG operator runs: node labels to match, taints to tolerate (JSON).
  nodeSelector: stringMap(),
  tolerations: tolerations(),
  // kube-prometheus-stack (it selects every monitor); false to use the cluster's own Prometheus
  // operator, found in monitoringNamespace and selecting by monitoringSelectorLabels.
  monitoringInstallStack: bool(true),
  monitoringNamespace: dnsLabel('monitoring'),
  monitoringSelectorLabels: stringMap(),
  kubePrometheusStackChartVersion: chartVersion('79.5.0'),
  // A managed control plane (EKS, GKE, AKS) hides its controller manager, scheduler and etcd, and
  // its kube-proxy serves metrics on the node's loopback only: scraping them fails for ever
  // (KubeControllerManagerDown, KubeSchedulerDown, ...). True turns those four scrapers and their
  // alerts off; false on a cluster whose control plane is yours.
  managedControlPlane: bool(true),
  // Prometheus' volume (a PersistentVolumeClaim of the cluster's default class), in Gi; it keeps
  // 15 days and at most 85% of the volume (retentionSize), so a full disk never stops it.
  prometheusStorageSize: z
    .string()
    .regex(/^[1-9][0-9]*Gi$/, 'must be a whole number of Gi, such as 50Gi')
    .default('50Gi'),
});

export type ClusterConfig = z.infer<typeof clusterConfigSchema>;

export type ClusterConfigResult = { ok: true; config: ClusterConfig } | { ok: false; problems: string[] };

/**
 * Prometheus' `retentionSize` for a volume of `storageSize` (x Gi): 85% of it, leaving room for the
 * WAL and the block being compacted. Prometheus reads `GB` as 2^30 bytes, as Kubernetes reads `Gi`.
 */
export function retentionSize(storageSize: string): string {
  return `${Math.floor(Number.parseInt(storageSize, 10) * 0.85)}GB`;
}

/**
 * Parses the cluster stack's raw (string) config values; every problem at once. `secrets`: the
 * names of the secret keys the stack sets.
 */
export function parseClusterConfig(
  raw: Record<string, string | undefined>,
  secrets: ReadonlySet<string> = new Set(),
): ClusterConfigResult {
  const problems = Object.keys(raw)
    .filter((k) => raw[k] !== undefined && !(k in clusterConfigSchema.shape))
    .map((k) => `${k}: unknown config key`);
  const parsed = clusterConfigSchema.safeParse(
    Object.fromEntries(
      Object.entries(raw).filter(([k, v]) => v !== undefined && k in clusterConfigSchema.shape),
    ),
  );
  if (!parsed.success)
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.')}: ${issue.message}`);
  const c = parsed.success ? parsed.data : undefined;
  if (c?.monitoringInstallStack && Object.keys(c.monitoringSelectorLabels).length)
    problems.push(
      'monitoringSelectorLabels: the Prometheus this stack installs selects every monitor; labels are for a Prometheus the cluster already runs (monitoringInstallStack: false)',
    );
  // Without receivers the stack's Alertmanager routes every alert to its `null` receiver: nobody
  // is paged.
  if (c?.monitoringInstallStack && !secrets.has(ALERTMANAGER_CONFIG_KEY))
    problems.push(
      `${ALERTMANAGER_CONFIG_KEY}: required with monitoringInstallStack: Alertmanager's configuration with your receivers ` +
        `(pulumi config set --secret ${ALERTMANAGER_CONFIG_KEY} --cwd infra/cluster-stack --stack <stack> < alertmanager.yaml; docs/RUNBOOK.md, "Alerts")`,
    );
  return c && !problems.length ? { ok: true, config: c } : { ok: false, problems };
}
