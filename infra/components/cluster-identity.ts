import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';

/** The namespace every Kubernetes cluster has and never recreates: its UID names the cluster. */
export const IDENTITY_NAMESPACE = 'kube-system';

/**
 * The UID of the `kube-system` namespace of the cluster the stack's provider deploys to, read (not
 * managed) through the provider. Kubeconfig context names are local to a machine: the same cluster
 * can be `prod` on one laptop and `arn:aws:eks:…` in CI, and two clusters can share a name. This UID
 * is the cluster's own.
 */
export function clusterUid(name: string, opts?: pulumi.CustomResourceOptions): pulumi.Output<string> {
  const ns = k8s.core.v1.Namespace.get(name, IDENTITY_NAMESPACE, opts);
  return ns.metadata.apply((m) => m?.uid ?? '');
}

/**
 * An Output's value, awaited while the program runs, so that a check can stop the program before it
 * registers anything: undefined when the engine does not know it (a preview of a value that only an
 * update computes); rejects when the value fails (for example a read the cluster forbids).
 */
export function settled<T>(output: pulumi.Output<T>): Promise<T | undefined> {
  // `isKnown` is on every Output at run time (the SDK keeps it out of its typings).
  const known = (output as unknown as { isKnown: Promise<boolean> }).isKnown;
  return new Promise<T | undefined>((resolve, reject) => {
    output.apply((value) => {
      resolve(value);
      return value;
    });
    known.then((k) => k || resolve(undefined), reject);
  });
}
