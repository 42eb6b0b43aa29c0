import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';

/**
 * Who may reach a backing service (PostgreSQL, Valkey, NATS) besides its own pods. Without a
 * NetworkPolicy every pod of every namespace can: a compromised pod anywhere in the cluster could
 * try the database, read Valkey or subscribe to NATS (whose monitoring port answers anyone).
 */
export type ServiceAccessArgs = {
  /**
   * The labels every broker pod carries (the API, the migration Job, the CronJobs: the chart's
   * `ainp.selectorLabels`), in the service's namespace.
   */
  clientLabels: Record<string, string>;
  /** Where Prometheus runs (it scrapes the metrics port). */
  monitoringNamespace: string;
};

export type Peer = k8s.types.input.networking.v1.NetworkPolicyPeer;
export type Admission = { ports: number[]; from: Peer[] };

/** Pods of the policy's own namespace with these labels. */
export const podsLabelled = (labels: Record<string, string>): Peer => ({
  podSelector: { matchLabels: labels },
});
/** Every pod of the namespace with this name (its `kubernetes.io/metadata.name` label). */
export const namespaceNamed = (name: string): Peer => ({
  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': name } },
});

/**
 * A NetworkPolicy selecting the service's pods that admits only the listed peers on the listed
 * ports (any other ingress is refused; egress is left alone). Traffic inside a pod (an exporter
 * sidecar reading its server on localhost) and the kubelet's probes are not subject to it.
 */
export function admitOnly(
  name: string,
  args: {
    namespace: pulumi.Input<string>;
    policyName: string;
    podLabels: Record<string, string>;
    admit: Admission[];
  },
  opts: pulumi.CustomResourceOptions,
): k8s.networking.v1.NetworkPolicy {
  return new k8s.networking.v1.NetworkPolicy(
    name,
    {
      metadata: { name: args.policyName, namespace: args.namespace },
      spec: {
        podSelector: { matchLabels: args.podLabels },
        policyTypes: ['Ingress'],
        ingress: args.admit.map((a) => ({
          from: a.from,
          ports: a.ports.map((port) => ({ port, protocol: 'TCP' })),
        })),
      },
    },
    opts,
  );
}
