import type { StackConfig } from './config.js';

/** The third-party charts the program installs, pinned by exact version (from the stack config). */
export type ChartRef = { chart: string; repo: string; version: string };

export function charts(c: StackConfig): Record<'cnpg' | 'valkey' | 'nats' | 'kubePrometheusStack', ChartRef> {
  return {
    cnpg: {
      chart: 'cloudnative-pg',
      repo: 'https://cloudnative-pg.github.io/charts',
      version: c.cnpgChartVersion,
    },
    valkey: { chart: 'valkey', repo: 'https://valkey.io/valkey-helm/', version: c.valkeyChartVersion },
    nats: { chart: 'nats', repo: 'https://nats-io.github.io/k8s/helm/charts/', version: c.natsChartVersion },
    kubePrometheusStack: {
      chart: 'kube-prometheus-stack',
      repo: 'https://prometheus-community.github.io/helm-charts',
      version: c.kubePrometheusStackChartVersion,
    },
  };
}
