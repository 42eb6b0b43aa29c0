import http, { type RefinedResponse, type ResponseType } from 'k6/http';
import { ADMIN_TOKEN, TARGET } from './env.ts';
import { signedHeaders, type Signer } from './did.ts';

/** Requests against the broker, each tagged with its route so results group per endpoint. */
export type Res = RefinedResponse<ResponseType | undefined>;
export type ApiKey = { id: string; key: string; address: string };

const json = { 'Content-Type': 'application/json' };

export function randomAddress(): string {
  let hex = '';
  for (let i = 0; i < 40; i++) hex += Math.floor(Math.random() * 16).toString(16);
  return `0x${hex}`;
}

export function hex32(): string {
  let hex = '';
  for (let i = 0; i < 64; i++) hex += Math.floor(Math.random() * 16).toString(16);
  return `0x${hex}`;
}

/**
 * Where a request goes: a path, or a path template with its values. The route name that results
 * are grouped by is derived from it: `['/api/v1/agents/{id}', { id }]` is sent to the agent's URL
 * and named `GET /api/v1/agents/{id}`; a query string is sent and left out of the name.
 */
export type Path = string | readonly [template: string, values: Record<string, string | number>];

function resolve(method: string, at: Path): { url: string; path: string; name: string } {
  const [template, values] = typeof at === 'string' ? [at, {}] : at;
  const path = template.replace(/\{(\w+)\}/g, (_, key: string) => {
    const v = values[key];
    if (v === undefined) throw new Error(`${template}: no value for {${key}}`);
    return encodeURIComponent(String(v));
  });
  return { url: `${TARGET}${path}`, path, name: `${method} ${template.split('?')[0]}` };
}

/** The tags every request carries besides its route name (smoke sets its area). */
let extraTags: Record<string, string> = {};
export function tagRequests(tags: Record<string, string>): void {
  extraTags = tags;
}

/**
 * One request. `expected`: statuses besides 2xx and 3xx that this request is meant to get (a
 * refusal the script checks for), so http_req_failed does not count it.
 */
function send(
  method: string,
  at: Path,
  body: unknown,
  headers: Record<string, string>,
  expected: number[] = [],
): Res {
  const { url, name } = resolve(method, at);
  const raw = body === undefined ? '' : JSON.stringify(body);
  return http.request(method, url, raw || null, {
    headers: body === undefined ? headers : { ...json, ...headers },
    tags: { ...extraTags, name },
    ...(expected.length
      ? { responseCallback: http.expectedStatuses({ min: 200, max: 399 }, ...expected) }
      : {}),
  });
}

export function get(at: Path, headers: Record<string, string> = {}): Res {
  return send('GET', at, undefined, headers);
}

/** An unauthenticated POST (finalize needs no credentials: anyone may trigger it). */
export function post(at: Path, body?: unknown): Res {
  return send('POST', at, body, {});
}

export const admin = {
  headers: () => ({ Authorization: `Bearer ${ADMIN_TOKEN}` }),
  createKey(name: string): ApiKey {
    const address = randomAddress();
    const res = send('POST', '/api/admin/api-keys', { name, address }, admin.headers());
    if (res.status !== 201) throw new Error(`creating an API key failed: ${res.status} ${res.body}`);
    const body = res.json() as { id: string; key: string };
    return { id: body.id, key: body.key, address };
  },
  deleteKey(id: string): Res {
    return send('DELETE', ['/api/admin/api-keys/{id}', { id }], undefined, admin.headers());
  },
  post: (at: Path, body: unknown): Res => send('POST', at, body, admin.headers()),
  get: (at: Path): Res => get(at, admin.headers()),
};

/** A client holding an API key (the ERC-8004 registry endpoints). */
export function keyClient(k: ApiKey) {
  const h = { Authorization: `Bearer ${k.key}` };
  return {
    get: (at: Path) => get(at, h),
    post: (at: Path, body?: unknown) => send('POST', at, body, h),
    patch: (at: Path, body: unknown) => send('PATCH', at, body, h),
  };
}
export type KeyClient = ReturnType<typeof keyClient>;

/** A DID-signed request (the AINP endpoints): the signature covers the exact path and body sent. */
export async function signed(
  signer: Signer,
  method: string,
  at: Path,
  body?: unknown,
  headers: Record<string, string> = {},
  expected: number[] = [],
): Promise<Res> {
  const { path } = resolve(method, at);
  const raw = body === undefined ? '' : JSON.stringify(body);
  return send(
    method,
    at,
    body,
    { ...headers, ...(await signedHeaders(signer, method, path, raw)) },
    expected,
  );
}

/**
 * Registers an agent for `signer`'s DID through an API key, the request signed by that DID too:
 * binding a DID needs its proof of control.
 */
export function registerAgent(k: ApiKey, signer: Signer, name: string): Promise<Res> {
  return signed(signer, 'POST', '/api/v1/agents/register', agentBody(signer.did, name), {
    Authorization: `Bearer ${k.key}`,
  });
}

export const agentBody = (did: string, name: string) => ({
  did,
  name,
  description: 'k6 gate agent',
  chain_id: 8453,
  tags: ['translation', 'k6'],
  services: [{ name: 'A2A', endpoint: 'https://agent.example/a2a', version: '0.3', skills: ['translate'] }],
  supported_trust: ['reputation'],
});
