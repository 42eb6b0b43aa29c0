import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';

export type NamespaceArgs = {
  name: pulumi.Input<string>;
  environment: string;
  /** Protect the Namespace (deleting it deletes everything in it) and retain it on delete. */
  protect: boolean;
};

/**
 * The stack's namespace. Pod Security admission enforces `baseline` (the third-party charts are
 * not all `restricted`-clean) and warns and audits at `restricted`, which the broker meets.
 */
export class Namespace extends pulumi.ComponentResource {
  readonly name: pulumi.Output<string>;

  constructor(name: string, args: NamespaceArgs, opts?: pulumi.ComponentResourceOptions) {
    super('ainp:platform:Namespace', name, {}, opts);
    const ns = new k8s.core.v1.Namespace(
      name,
      {
        metadata: {
          name: args.name,
          labels: {
            'app.kubernetes.io/part-of': 'ainp',
            'ainp.dev/environment': args.environment,
            'pod-security.kubernetes.io/enforce': 'baseline',
            'pod-security.kubernetes.io/warn': 'restricted',
            'pod-security.kubernetes.io/audit': 'restricted',
          },
        },
      },
      { parent: this, protect: args.protect, retainOnDelete: args.protect },
    );
    this.name = ns.metadata.name;
    this.registerOutputs({ name: this.name });
  }
}
