/** The third-party charts the programs install, pinned by exact version (from the stack config). */
export type ChartRef = {
  chart: string;
  repo: string;
  version: string;
  /** The chart's archive (`<chartDirectory>/<chart>-<version>.tgz`) when the stack sets chartDirectory. */
  archive?: string;
};

/**
 * A Helm Release's chart inputs for a pinned chart: from its repository, or from its archive in
 * the stack's chartDirectory (the same chart and version, copied in: a mirror, an air-gapped
 * cluster, the cluster lane).
 */
export const releaseChart = (ref: ChartRef) =>
  ref.archive
    ? { chart: ref.archive }
    : { chart: ref.chart, version: ref.version, repositoryOpts: { repo: ref.repo } };

const ref = (chart: string, repo: string, version: string, chartDirectory: string): ChartRef => ({
  chart,
  repo,
  version,
  ...(chartDirectory ? { archive: `${chartDirectory.replace(/\/$/, '')}/${chart}-${version}.tgz` } : {}),
});

/** The app stack's charts: its own Valkey and NATS. */
export function appCharts(c: {
  valkeyChartVersion: string;
  natsChartVersion: string;
  chartDirectory?: string;
}) {
  const dir = c.chartDirectory ?? '';
  return {
    valkey: ref('valkey', 'https://valkey.io/valkey-helm/', c.valkeyChartVersion, dir),
    nats: ref('nats', 'https://nats-io.github.io/k8s/helm/charts/', c.natsChartVersion, dir),
  } satisfies Record<string, ChartRef>;
}

/** The cluster stack's charts: the operators every app stack on the cluster shares. */
export function clusterCharts(c: {
  cnpgChartVersion: string;
  kubePrometheusStackChartVersion: string;
  chartDirectory?: string;
}) {
  const dir = c.chartDirectory ?? '';
  return {
    cnpg: ref('cloudnative-pg', 'https://cloudnative-pg.github.io/charts', c.cnpgChartVersion, dir),
    kubePrometheusStack: ref(
      'kube-prometheus-stack',
      'https://prometheus-community.github.io/helm-charts',
      c.kubePrometheusStackChartVersion,
      dir,
    ),
  } satisfies Record<string, ChartRef>;
}
