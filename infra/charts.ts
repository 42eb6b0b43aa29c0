/** The third-party charts the programs install, pinned by exact version (from the stack config). */
export type ChartRef = { chart: string; repo: string; version: string };

/** A Helm Release's chart inputs for a pinned chart from its repository. */
export const releaseChart = (ref: ChartRef) => ({
  chart: ref.chart,
  version: ref.version,
  repositoryOpts: { repo: ref.repo },
});

/** The app stack's charts: its own Valkey and NATS. */
export function appCharts(c: { valkeyChartVersion: string; natsChartVersion: string }) {
  return {
    valkey: { chart: 'valkey', repo: 'https://valkey.io/valkey-helm/', version: c.valkeyChartVersion },
    nats: { chart: 'nats', repo: 'https://nats-io.github.io/k8s/helm/charts/', version: c.natsChartVersion },
  } satisfies Record<string, ChartRef>;
}

/** The cluster stack's charts: the operators every app stack on the cluster shares. */
export function clusterCharts(c: { cnpgChartVersion: string; kubePrometheusStackChartVersion: string }) {
  return {
    cnpg: {
      chart: 'cloudnative-pg',
      repo: 'https://cloudnative-pg.github.io/charts',
      version: c.cnpgChartVersion,
    },
    kubePrometheusStack: {
      chart: 'kube-prometheus-stack',
      repo: 'https://prometheus-community.github.io/helm-charts',
      version: c.kubePrometheusStackChartVersion,
    },
  } satisfies Record<string, ChartRef>;
}
