import { cronPeriodSeconds, podScheduling, type StackConfig } from './config.js';
import { alertThresholds, type Slo } from './slo.js';

export type ComputedInputs = {
  imageRepository: string;
  imageDigest: string;
  /** The Secret holding DATABASE_URL, REDIS_URL, NATS_URL and ADMIN_TOKEN. */
  existingSecret: string;
  /** Whether the Prometheus operator's CRDs exist (ServiceMonitor, PrometheusRule). */
  monitoring: boolean;
  slo: Slo;
};

export const BROKER_RELEASE = 'ainp-broker';
/**
 * The labels on every pod of the broker's release: the API, the migration Job and the CronJobs
 * (the chart's `ainp.selectorLabels`: the chart's name, ainp-broker, and the release's). The
 * backing services' NetworkPolicies admit these pods.
 */
export const BROKER_POD_LABELS = {
  'app.kubernetes.io/name': 'ainp-broker',
  'app.kubernetes.io/instance': BROKER_RELEASE,
};

function job(enabled: boolean, schedule: string) {
  const intervalSeconds = cronPeriodSeconds(schedule);
  // Forbid concurrency; a stuck run is stopped after two periods (at least 2, at most 15 minutes).
  const activeDeadlineSeconds = Math.min(900, Math.max(120, intervalSeconds * 2));
  return { enabled, schedule, intervalSeconds, activeDeadlineSeconds };
}

/** The chart's periodic jobs for a stack: schedule, period and deadline of each. */
export function jobValues(c: StackConfig) {
  return {
    finalizer: job(true, c.finalizerCron),
    aggregator: job(true, c.aggregatorCron),
    credits: job(c.creditsEnabled, c.creditsCron),
  };
}

/**
 * The broker chart's values for a stack: a pure function of the stack config and what the program
 * computed (image digest, secret name). The chart test renders exactly these with the real helm.
 */
export function brokerValues(c: StackConfig, x: ComputedInputs) {
  const replicas = c.brokerReplicas;
  return {
    environment: c.environment,
    image: { repository: x.imageRepository, digest: x.imageDigest, pullPolicy: c.imagePullPolicy },
    replicaCount: replicas,
    ...podScheduling(c),
    existingSecret: x.existingSecret,
    config: {
      LOG_LEVEL: c.logLevel,
      POU_K: String(c.pouK),
      POU_M: String(c.pouM),
      DB_POOL_MAX: String(c.brokerDbPoolMax),
      // A clustered NATS (3 or more servers) keeps 3 copies of the event stream; one server, 1.
      NATS_STREAM_REPLICAS: String(c.natsReplicas >= 3 ? 3 : 1),
    },
    resources: {
      requests: { cpu: c.brokerCpuRequest, memory: c.brokerMemoryRequest, 'ephemeral-storage': '64Mi' },
      limits: { cpu: c.brokerCpuLimit, memory: c.brokerMemoryLimit, 'ephemeral-storage': '256Mi' },
    },
    autoscaling: { enabled: true, minReplicas: replicas, maxReplicas: c.brokerMaxReplicas },
    // One pod may go at a time; with three or more, all but one stay.
    pdb: { enabled: true, minAvailable: Math.max(1, replicas - 1) },
    ingress: c.host
      ? {
          enabled: true,
          className: c.ingressClassName,
          host: c.host,
          annotations: {
            ...c.ingressAnnotations,
            // cert-manager's ingress-shim creates the certificate in the TLS Secret named below.
            ...(c.certManagerClusterIssuer
              ? { 'cert-manager.io/cluster-issuer': c.certManagerClusterIssuer }
              : {}),
          },
          tls: { enabled: true, secretName: c.ingressTlsSecret || `${BROKER_RELEASE}-tls` },
        }
      : { enabled: false },
    httpRoute: c.gatewayParentRefs.length
      ? { enabled: true, host: c.host, parentRefs: c.gatewayParentRefs }
      : { enabled: false },
    networkPolicy: {
      enabled: true,
      ingressNamespaceSelector: { 'kubernetes.io/metadata.name': c.ingressControllerNamespace },
      monitoringNamespaceSelector: { 'kubernetes.io/metadata.name': c.monitoringNamespace },
    },
    jobs: jobValues(c),
    metrics: {
      serviceMonitor: { enabled: x.monitoring, labels: c.monitoringSelectorLabels },
      prometheusRule: {
        enabled: x.monitoring,
        labels: c.monitoringSelectorLabels,
        ...alertThresholds(x.slo),
      },
      dashboard: { enabled: x.monitoring },
    },
  };
}

export type BrokerValues = ReturnType<typeof brokerValues>;
