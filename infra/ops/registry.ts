/**
 * Adds a tag to an image digest in its registry through the OCI distribution API, without
 * rewriting anything: the manifest (or index) the digest names is read, its bytes checked against
 * the digest, and put back, byte for byte, under the tag; the tag is then read back and must name the
 * same digest. A tag that already names another digest is never moved (promote's `prod-*` tags are
 * immutable). Registries on loopback are spoken to over http, every other one over https.
 */
import { createHash } from 'node:crypto';

/** What a registry may hold under a digest: OCI and Docker images and indexes. */
const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');
/** The largest manifest read: an index of a few platforms is a few KiB; 4 MiB is the spec's limit. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const TIMEOUT_MS = 30_000;

export type Credentials = { username: string; password: string };
export type TagResult = { result: 'tagged' | 'already-tagged'; reference: string };

export class RegistryError extends Error {
  override name = 'RegistryError';
}

/** `ghcr.io/ainp/broker` → the registry's base URL and the repository's name in it. */
export function parseRepository(repository: string): { base: string; name: string } {
  if (!/^[a-z0-9.-]+(:[0-9]+)?(\/[a-z0-9._-]+)+$/.test(repository))
    throw new RegistryError(
      `image repository ${JSON.stringify(repository)}: expected host[:port]/path (for example ghcr.io/ainp/broker)`,
    );
  const [first, ...rest] = repository.split('/');
  // Docker Hub's short form (`grafana/k6`) has no host; a host has a dot or a port, or is localhost.
  const hasHost = /[.:]/.test(first!) || first === 'localhost';
  const host = hasHost ? first! : 'registry-1.docker.io';
  const path = hasHost ? rest : [first!, ...rest];
  const loopback = /^(localhost|127\.[0-9.]+|\[::1\])(:[0-9]+)?$/.test(host);
  return {
    base: `${loopback ? 'http' : 'https'}://${host}`,
    name: (hasHost || path.length > 1 ? path : ['library', ...path]).join('/'),
  };
}

/** A tag as the distribution spec allows it. */
export const isTag = (tag: string) => /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/.test(tag);

/**
 * A client for one repository: anonymous, or with a username and token (Basic, or exchanged for a
 * Bearer token at the realm the registry names, as GHCR, Docker Hub and ECR do).
 */
function client(repository: string, credentials?: Credentials) {
  const { base, name } = parseRepository(repository);
  let authorization: string | undefined;
  const basic = credentials
    ? `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`
    : undefined;

  async function token(challenge: string): Promise<string> {
    const params = Object.fromEntries(
      [...challenge.matchAll(/([a-z]+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]),
    );
    if (!params.realm) throw new RegistryError(`${base}: a Bearer challenge without a realm`);
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', `repository:${name}:pull,push`);
    const res = await fetch(url, {
      headers: basic ? { Authorization: basic } : {},
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    if (!res.ok) throw new RegistryError(`${url.origin}: token request refused (HTTP ${res.status})`);
    const body = (await res.json()) as { token?: string; access_token?: string };
    const value = body.token ?? body.access_token;
    if (!value) throw new RegistryError(`${url.origin}: token response without a token`);
    return `Bearer ${value}`;
  }

  /** One request, authenticated as the registry asks on its first 401. */
  async function request(
    method: string,
    reference: string,
    init: { headers?: Record<string, string>; body?: Buffer } = {},
  ) {
    const url = `${base}/v2/${name}/manifests/${reference}`;
    const send = () =>
      fetch(url, {
        method,
        headers: { ...init.headers, ...(authorization ? { Authorization: authorization } : {}) },
        ...(init.body ? { body: new Uint8Array(init.body) } : {}),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    let res = await send().catch((err: Error) => {
      throw new RegistryError(
        `${base}: unreachable (${err.cause instanceof Error ? err.cause.message : err.message})`,
      );
    });
    if (res.status === 401 && !authorization) {
      const challenge = res.headers.get('www-authenticate') ?? '';
      authorization = /^bearer /i.test(challenge) ? await token(challenge) : basic;
      if (!authorization)
        throw new RegistryError(
          `${base}: ${name} needs credentials (the stack's registryUsername and registryPassword)`,
        );
      await res.arrayBuffer();
      res = await send();
    }
    return res;
  }

  return { base, name, request };
}

/** Reads a body up to `limit` bytes (a registry answering with more is refused). */
async function readBounded(res: Response, limit: number): Promise<Buffer> {
  const length = Number(res.headers.get('content-length') ?? 0);
  if (length > limit) throw new RegistryError(`manifest of ${length} bytes is larger than ${limit}`);
  const body = Buffer.from(await res.arrayBuffer());
  if (body.length > limit)
    throw new RegistryError(`manifest of ${body.length} bytes is larger than ${limit}`);
  return body;
}

/** Adds `tag` to `digest` in `repository`; idempotent; refuses to move a tag naming another digest. */
export async function tagDigest(opts: {
  repository: string;
  digest: string;
  tag: string;
  credentials?: Credentials;
}): Promise<TagResult> {
  const { repository, digest, tag } = opts;
  if (!/^sha256:[0-9a-f]{64}$/.test(digest))
    throw new RegistryError(`digest ${JSON.stringify(digest)}: expected sha256:<64 hex>`);
  if (!isTag(tag)) throw new RegistryError(`tag ${JSON.stringify(tag)}: not a valid tag`);
  const reg = client(repository, opts.credentials);
  const reference = `${repository}:${tag}`;

  const existing = await reg.request('HEAD', tag, { headers: { Accept: MANIFEST_TYPES } });
  if (existing.ok) {
    const named = existing.headers.get('docker-content-digest');
    if (named === digest) return { result: 'already-tagged', reference };
    throw new RegistryError(
      `${reference} already names ${named ?? 'another manifest'}, not ${digest}; a promotion tag is never moved`,
    );
  }
  if (existing.status !== 404)
    throw new RegistryError(`${reference}: HTTP ${existing.status} reading the tag`);

  const got = await reg.request('GET', digest, { headers: { Accept: MANIFEST_TYPES } });
  if (got.status === 404)
    throw new RegistryError(`${repository}@${digest}: no such manifest in the registry`);
  if (!got.ok) throw new RegistryError(`${repository}@${digest}: HTTP ${got.status} reading the manifest`);
  const body = await readBounded(got, MAX_MANIFEST_BYTES);
  const actual = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  if (actual !== digest)
    throw new RegistryError(`${repository}@${digest}: the registry answered a manifest of digest ${actual}`);
  const type = got.headers.get('content-type')?.split(';')[0]?.trim();
  if (!type || !MANIFEST_TYPES.includes(type))
    throw new RegistryError(`${repository}@${digest}: unexpected media type ${type}`);

  const put = await reg.request('PUT', tag, { headers: { 'Content-Type': type }, body });
  if (put.status !== 201) {
    const detail = (await put.text().catch(() => '')).slice(0, 300);
    throw new RegistryError(
      `${reference}: the registry refused the tag (HTTP ${put.status}) ${detail}`.trim(),
    );
  }
  const check = await reg.request('HEAD', tag, { headers: { Accept: MANIFEST_TYPES } });
  const now = check.headers.get('docker-content-digest');
  if (now !== digest)
    throw new RegistryError(`${reference}: read back as ${now ?? `HTTP ${check.status}`}, not ${digest}`);
  return { result: 'tagged', reference };
}
