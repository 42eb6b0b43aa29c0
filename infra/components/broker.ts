import { chartDigest } from '../chart-digest.js';
import * as dockerBuild from '@pulumi/docker-build';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import { fileURLToPath } from 'node:url';
import { BROKER_RELEASE, brokerValues } from '../broker-values.js';
import type { StackConfig } from '../config.js';
import type { Slo } from '../slo.js';

export type BrokerArgs = {
  config: StackConfig;
  namespace: pulumi.Input<string>;
  slo: Slo;
  monitoring: boolean;
  databaseUrl: pulumi.Input<string>;
  redisUrl: pulumi.Input<string>;
  natsUrl: pulumi.Input<string>;
  /** The push credential: used by the image build only, never handed to the cluster. */
  registryPassword?: pulumi.Input<string>;
  /** The read-only pull credential (`registryPullUsername`): the only one the cluster gets. */
  registryPullPassword?: pulumi.Input<string>;
  /** The admin token set as a config secret; when absent one is generated (@pulumi/random). */
  adminToken?: pulumi.Input<string>;
  /** The backing services: the release (and its migration hook) waits for all of them. */
  dependsOn: pulumi.Resource[];
};

export const ENV_SECRET = 'ainp-broker-env';
const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

/** Splits `repo@sha256:…` (docker's repoDigest) into its repository and digest. */
export function splitRepoDigest(ref: string): { repository: string; digest: string } {
  const at = ref.lastIndexOf('@');
  if (at < 0 || !/^sha256:[0-9a-f]{64}$/.test(ref.slice(at + 1)))
    throw new Error(`not a digest reference: ${ref}`);
  return { repository: ref.slice(0, at), digest: ref.slice(at + 1) };
}

/**
 * The broker: its image (built from this repository's Dockerfile and pushed, unless the stack pins
 * `imageDigest`, as promotion does for prod), a Secret with the connection URLs and the admin
 * token, and a Helm release of `helm/` with values from `brokerValues`. Helm runs the migration Job
 * as a pre-install/pre-upgrade hook and waits for it, so the Deployment rolls only after it.
 */
/** The image pull Secret's name, when the stack sets a pull credential. */
export const PULL_SECRET = 'ainp-broker-pull';

/** A `.dockerconfigjson` for one registry (what `kubectl create secret docker-registry` writes). */
export function dockerConfigJson(server: string, username: string, password: string): string {
  const auth = Buffer.from(`${username}:${password}`).toString('base64');
  return JSON.stringify({ auths: { [server]: { username, password, auth } } });
}

export class Broker extends pulumi.ComponentResource {
  readonly release: k8s.helm.v3.Release;
  readonly envSecret: k8s.core.v1.Secret;
  readonly imageRef: pulumi.Output<string>;
  readonly imageDigest: pulumi.Output<string>;
  readonly url: pulumi.Output<string>;
  /** The broker's admin token (a secret output: the gates create their API keys with it). */
  readonly adminToken: pulumi.Output<string>;

  constructor(name: string, args: BrokerArgs, opts?: pulumi.ComponentResourceOptions) {
    super('ainp:broker:Broker', name, {}, opts);
    const c = args.config;
    const parent = { parent: this };

    let ref: pulumi.Output<string>;
    if (c.imageDigest) {
      ref = pulumi.output(`${c.imageRepository}@${c.imageDigest}`);
    } else {
      // BuildKit (buildx) builds every platform the stack names into one multi-platform image
      // index and pushes it; the digest is the index's, so each node pulls its own architecture.
      const image = new dockerBuild.Image(
        `${name}-image`,
        {
          context: { location: PROJECT_ROOT },
          dockerfile: { location: `${PROJECT_ROOT}/Dockerfile` },
          platforms: c.imagePlatforms as dockerBuild.types.enums.Platform[],
          tags: [`${c.imageRepository}:${c.environment}-${pulumi.getStack()}`],
          push: true,
          ...(c.registryServer
            ? {
                registries: [
                  {
                    address: c.registryServer,
                    ...(c.registryUsername ? { username: c.registryUsername } : {}),
                    ...(args.registryPassword ? { password: args.registryPassword } : {}),
                  },
                ],
              }
            : {}),
        },
        parent,
      );
      ref = pulumi.interpolate`${c.imageRepository}@${image.digest}`;
    }
    this.imageRef = ref;
    this.imageDigest = ref.apply((r) => splitRepoDigest(r).digest);

    // A private registry: the pods pull with the read-only credential. The push one stays with the
    // build: in the namespace, anyone who can read Secrets there could overwrite the image.
    const pullSecret =
      c.registryPullUsername && args.registryPullPassword
        ? new k8s.core.v1.Secret(
            `${name}-pull`,
            {
              metadata: { name: PULL_SECRET, namespace: args.namespace },
              type: 'kubernetes.io/dockerconfigjson',
              stringData: {
                '.dockerconfigjson': pulumi.secret(
                  pulumi
                    .output(args.registryPullPassword)
                    .apply((password) =>
                      dockerConfigJson(
                        c.registryServer || c.imageRepository.split('/')[0]!,
                        c.registryPullUsername,
                        password,
                      ),
                    ),
                ),
              },
            },
            parent,
          )
        : undefined;

    const adminToken =
      args.adminToken ??
      new random.RandomPassword(`${name}-admin-token`, { length: 48, special: false }, parent).result;
    this.adminToken = pulumi.secret(adminToken);
    this.envSecret = new k8s.core.v1.Secret(
      `${name}-env`,
      {
        metadata: { name: ENV_SECRET, namespace: args.namespace },
        type: 'Opaque',
        stringData: {
          DATABASE_URL: pulumi.secret(args.databaseUrl),
          REDIS_URL: pulumi.secret(args.redisUrl),
          NATS_URL: pulumi.secret(args.natsUrl),
          ADMIN_TOKEN: this.adminToken,
        },
      },
      parent,
    );

    const chart = `${PROJECT_ROOT}/helm`;
    const digestOfChart = chartDigest(chart);
    const values = ref.apply((r) => {
      const { repository, digest } = splitRepoDigest(r);
      return {
        ...brokerValues(c, {
          imageRepository: repository,
          imageDigest: digest,
          existingSecret: ENV_SECRET,
          monitoring: args.monitoring,
          slo: args.slo,
        }),
        chartDigest: digestOfChart,
        imagePullSecrets: pullSecret ? [PULL_SECRET] : [],
      };
    });

    this.release = new k8s.helm.v3.Release(
      name,
      {
        name: BROKER_RELEASE,
        chart,
        namespace: args.namespace,
        values,
        // Wait for the migration hook, the rollout and the Jobs; a failed upgrade (or one not done
        // within brokerRolloutTimeoutSeconds: pods that never turn Ready) fails `up`.
        skipAwait: false,
        waitForJobs: true,
        timeout: c.brokerRolloutTimeoutSeconds,
      },
      { parent: this, dependsOn: [this.envSecret, ...(pullSecret ? [pullSecret] : []), ...args.dependsOn] },
    );

    this.url = c.host
      ? pulumi.output(`https://${c.host}`)
      : pulumi.interpolate`http://${BROKER_RELEASE}.${args.namespace}.svc`;
    this.registerOutputs({ url: this.url, imageDigest: this.imageDigest });
  }
}
