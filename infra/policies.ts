/**
 * Policies as code. Each policy is a pure check over one resource as Pulumi sees it (its type token
 * and its properties), returning the violations it finds. They run inside the `@pulumi/policy`
 * pack (infra/policy-pack, built by `npm run build:policy-pack`) at `pulumi preview/up
 * --policy-pack`, and tests call them directly on everything the program registers and on every
 * manifest the broker chart renders.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- resource properties are arbitrary JSON
export type PolicyResource = { type: string; name: string; props: Record<string, any> };
export type Policy = { name: string; description: string; check(r: PolicyResource): string[] };

type Container = {
  name?: string;
  image?: string;
  resources?: { limits?: Record<string, unknown>; requests?: Record<string, unknown> };
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; privileged?: boolean };
  readinessProbe?: unknown;
  livenessProbe?: unknown;
  env?: { name: string; value?: string; valueFrom?: unknown }[];
};
type PodSpec = {
  containers?: Container[];
  initContainers?: Container[];
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
};

/** `kubernetes:apps/v1:Deployment` → `Deployment`; a manifest's own kind otherwise. */
export function kindOf(r: PolicyResource): string {
  return r.type.startsWith('kubernetes:') ? r.type.slice(r.type.lastIndexOf(':') + 1) : '';
}

const SERVICE_WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);
const WORKLOADS = new Set([...SERVICE_WORKLOADS, 'Job', 'CronJob', 'Pod', 'ReplicaSet']);

export function podSpecOf(r: PolicyResource): PodSpec | undefined {
  const kind = kindOf(r);
  if (!WORKLOADS.has(kind)) return undefined;
  if (kind === 'Pod') return r.props.spec;
  if (kind === 'CronJob') return r.props.spec?.jobTemplate?.spec?.template?.spec;
  return r.props.spec?.template?.spec;
}

const allContainers = (p: PodSpec) => [...(p.containers ?? []), ...(p.initContainers ?? [])];
const isRelease = (r: PolicyResource) => r.type === 'kubernetes:helm.sh/v3:Release';
const isCnpgCluster = (r: PolicyResource) => r.type === 'kubernetes:postgresql.cnpg.io/v1:Cluster';

/** An image reference is pinned when it carries a digest, or a tag other than `latest`. */
export function isPinnedImage(image: string | undefined): boolean {
  if (!image) return false;
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return true;
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const colon = lastSegment.indexOf(':');
  if (colon < 0) return false;
  const tag = lastSegment.slice(colon + 1);
  return tag !== '' && tag !== 'latest';
}

const SECRET_NAME =
  /(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIALS?|DATABASE_URL|REDIS_URL|NATS_URL)$/i;
const URL_WITH_CREDENTIALS = /^[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+(:[^/\s@]+)?@/i;
/** A reference to an environment variable, resolved by the server (NATS config `<< $TOKEN >>`). */
const ENV_REFERENCE = /^<< \$[A-Z_][A-Z0-9_]* >>$/;

function walk(value: unknown, path: string[], visit: (path: string[], v: unknown) => void): void {
  visit(path, value);
  if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...path, String(i)], visit));
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) walk(v, [...path, k], visit);
}

/** `cpu request`, `memory limit`, … for each CPU/memory request or limit that is not set. */
function missingResources(res: Container['resources']): string[] {
  return (['requests', 'limits'] as const).flatMap((kind) =>
    ['cpu', 'memory']
      .filter((r) => res?.[kind]?.[r] === undefined)
      .map((r) => `${r} ${kind === 'limits' ? 'limit' : 'request'}`),
  );
}

export const policies: Policy[] = [
  {
    name: 'resource-limits',
    description: 'Every container (and every database instance) has CPU and memory requests and limits.',
    check(r) {
      const pod = podSpecOf(r);
      const out = (pod ? allContainers(pod) : []).flatMap((c) =>
        missingResources(c.resources).map((m) => `${r.name}: container ${c.name} has no ${m}`),
      );
      if (isCnpgCluster(r))
        out.push(
          ...missingResources(r.props.spec?.resources).map(
            (m) => `${r.name}: database instances have no ${m}`,
          ),
        );
      return out;
    },
  },
  {
    name: 'no-latest-tag',
    description:
      'Images are pinned by digest or a version tag, never `latest` or no tag; charts by exact version.',
    check(r) {
      const out: string[] = [];
      const pod = podSpecOf(r);
      for (const c of pod ? allContainers(pod) : [])
        if (!isPinnedImage(c.image))
          out.push(`${r.name}: container ${c.name} image ${c.image} is not pinned`);
      if (isCnpgCluster(r) && !isPinnedImage(r.props.spec?.imageName))
        out.push(`${r.name}: PostgreSQL image ${r.props.spec?.imageName} is not pinned`);
      if (isRelease(r)) {
        const local =
          String(r.props.chart ?? '').startsWith('/') || String(r.props.chart ?? '').startsWith('.');
        if (!local && !/^[0-9]+\.[0-9]+\.[0-9]+$/.test(String(r.props.version ?? '')))
          out.push(`${r.name}: chart ${r.props.chart} is not pinned to an exact version`);
        const img = r.props.values?.image;
        if (img && typeof img === 'object' && (img.tag === 'latest' || (img.tag === '' && !img.digest)))
          out.push(`${r.name}: values.image is not pinned`);
      }
      return out;
    },
  },
  {
    name: 'non-root',
    description: 'Pods run as a non-root user; no container is privileged or runs as uid 0.',
    check(r) {
      const out: string[] = [];
      const pod = podSpecOf(r);
      if (!pod) return out;
      for (const c of allContainers(pod)) {
        const nonRoot = c.securityContext?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot;
        const uid = c.securityContext?.runAsUser ?? pod.securityContext?.runAsUser;
        if (nonRoot !== true) out.push(`${r.name}: container ${c.name} does not set runAsNonRoot`);
        if (uid === 0) out.push(`${r.name}: container ${c.name} runs as uid 0`);
        if (c.securityContext?.privileged) out.push(`${r.name}: container ${c.name} is privileged`);
      }
      return out;
    },
  },
  {
    name: 'probes-present',
    description: 'Long-running containers have readiness and liveness probes.',
    check(r) {
      if (!SERVICE_WORKLOADS.has(kindOf(r))) return [];
      const out: string[] = [];
      for (const c of podSpecOf(r)?.containers ?? []) {
        if (!c.readinessProbe) out.push(`${r.name}: container ${c.name} has no readinessProbe`);
        if (!c.livenessProbe) out.push(`${r.name}: container ${c.name} has no livenessProbe`);
      }
      return out;
    },
  },
  {
    name: 'no-public-load-balancer',
    description:
      'No Service of type LoadBalancer unless marked internal; traffic enters through the Ingress.',
    check(r) {
      const internal = (ann: Record<string, string> | undefined) =>
        Object.entries(ann ?? {}).some(
          ([k, v]) =>
            (k === 'service.beta.kubernetes.io/aws-load-balancer-internal' && v === 'true') ||
            (k === 'service.beta.kubernetes.io/azure-load-balancer-internal' && v === 'true') ||
            (k === 'networking.gke.io/load-balancer-type' && v === 'Internal') ||
            (k === 'service.beta.kubernetes.io/aws-load-balancer-scheme' && v === 'internal'),
        );
      if (
        kindOf(r) === 'Service' &&
        r.props.spec?.type === 'LoadBalancer' &&
        !internal(r.props.metadata?.annotations)
      )
        return [`${r.name}: Service is a public LoadBalancer`];
      const out: string[] = [];
      if (isRelease(r))
        walk(r.props.values, [], (path, v) => {
          if (v === 'LoadBalancer' && path[path.length - 1] === 'type')
            out.push(`${r.name}: values.${path.join('.')} asks for a LoadBalancer`);
        });
      return out;
    },
  },
  {
    name: 'secrets-only-in-secrets',
    description:
      'Credentials live in Secrets: no secret-named env var with a literal value, no credentials in a ConfigMap or in chart values.',
    check(r) {
      const out: string[] = [];
      const pod = podSpecOf(r);
      for (const c of pod ? allContainers(pod) : [])
        for (const e of c.env ?? [])
          if (e.value !== undefined && (SECRET_NAME.test(e.name) || URL_WITH_CREDENTIALS.test(e.value)))
            out.push(`${r.name}: container ${c.name} sets ${e.name} literally; use a secretKeyRef`);
      if (kindOf(r) === 'ConfigMap')
        for (const [k, v] of Object.entries((r.props.data ?? {}) as Record<string, string>))
          if (SECRET_NAME.test(k) || URL_WITH_CREDENTIALS.test(v))
            out.push(`${r.name}: ConfigMap key ${k} holds a credential`);
      if (isRelease(r))
        walk(r.props.values, [], (path, v) => {
          const key = path[path.length - 1] ?? '';
          if (typeof v !== 'string' || v === '' || ENV_REFERENCE.test(v)) return;
          if (/^(password|token|secret|secretKey|accessKey)$/i.test(key) || URL_WITH_CREDENTIALS.test(v))
            out.push(`${r.name}: values.${path.join('.')} holds a credential; reference a Secret`);
        });
      return out;
    },
  },
];

/** Every violation of every policy for a set of resources, as `policy: message`. */
export function violations(resources: PolicyResource[]): string[] {
  return resources.flatMap((r) => policies.flatMap((p) => p.check(r).map((m) => `${p.name}: ${m}`)));
}

/** A rendered manifest as the policy sees it: Pulumi's type token for its apiVersion and kind. */
export function fromManifest(m: {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string };
}): PolicyResource {
  const [group, version] = m.apiVersion.includes('/') ? m.apiVersion.split('/') : ['core', m.apiVersion];
  return { type: `kubernetes:${group}/${version}:${m.kind}`, name: m.metadata?.name ?? m.kind, props: m };
}
