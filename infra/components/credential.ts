import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';

export type CredentialArgs = {
  /** Pulumi names of the two resources. */
  names: { password: string; secret: string };
  namespace: pulumi.Input<string>;
  /** The Secret's name in the cluster, as the chart or operator that reads it expects. */
  secretName: string;
  /** The key the generated value is stored under. */
  key: string;
  length: number;
  type?: string;
  /** Other (non-secret) keys of the same Secret, such as a username. */
  extra?: Record<string, string>;
  /** The value an operator set as a config secret: used instead of a generated one. */
  given?: pulumi.Output<string> | undefined;
};

/**
 * A generated credential (@pulumi/random, letters and digits) kept in a Kubernetes Secret, or the
 * one an operator set (`given`: then no @pulumi/random). `value` is a Pulumi secret; it never
 * leaves the stack state and the Secret.
 */
export function generatedCredential(
  args: CredentialArgs,
  opts: pulumi.CustomResourceOptions,
): { value: pulumi.Output<string>; secret: k8s.core.v1.Secret } {
  const value = pulumi.secret(
    args.given ??
      new random.RandomPassword(args.names.password, { length: args.length, special: false }, opts).result,
  );
  const secret = new k8s.core.v1.Secret(
    args.names.secret,
    {
      metadata: { name: args.secretName, namespace: args.namespace },
      type: args.type ?? 'Opaque',
      stringData: { ...args.extra, [args.key]: value },
    },
    opts,
  );
  return { value, secret };
}
