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

export function get(path: string, route: string, headers: Record<string, string> = {}): Res {
  return http.get(`${TARGET}${path}`, { headers, tags: { name: route } });
}

function send(
  method: string,
  path: string,
  route: string,
  body: unknown,
  headers: Record<string, string>,
): Res {
  const raw = body === undefined ? '' : JSON.stringify(body);
  return http.request(method, `${TARGET}${path}`, raw || null, {
    headers: body === undefined ? headers : { ...json, ...headers },
    tags: { name: route },
  });
}

/** An unauthenticated POST (finalize needs no credentials: anyone may trigger it). */
export function post(path: string, route: string, body?: unknown): Res {
  return send('POST', path, route, body, {});
}

export const admin = {
  headers: () => ({ Authorization: `Bearer ${ADMIN_TOKEN}` }),
  createKey(name: string): ApiKey {
    const address = randomAddress();
    const res = send(
      'POST',
      '/api/admin/api-keys',
      'POST /api/admin/api-keys',
      { name, address },
      admin.headers(),
    );
    if (res.status !== 201) throw new Error(`creating an API key failed: ${res.status} ${res.body}`);
    const body = res.json() as { id: string; key: string };
    return { id: body.id, key: body.key, address };
  },
  deleteKey(id: string): Res {
    return send(
      'DELETE',
      `/api/admin/api-keys/${id}`,
      'DELETE /api/admin/api-keys/{id}',
      undefined,
      admin.headers(),
    );
  },
  post(path: string, route: string, body: unknown): Res {
    return send('POST', path, route, body, admin.headers());
  },
  get(path: string, route: string): Res {
    return get(path, route, admin.headers());
  },
};

/** A client holding an API key (the ERC-8004 registry endpoints). */
export function keyClient(k: ApiKey) {
  const h = { Authorization: `Bearer ${k.key}` };
  return {
    get: (path: string, route: string) => get(path, route, h),
    post: (path: string, route: string, body?: unknown) => send('POST', path, route, body, h),
    patch: (path: string, route: string, body: unknown) => send('PATCH', path, route, body, h),
  };
}

/** A DID-signed request (the AINP endpoints). */
export async function signed(
  signer: Signer,
  method: string,
  path: string,
  route: string,
  body?: unknown,
): Promise<Res> {
  const raw = body === undefined ? '' : JSON.stringify(body);
  const headers = await signedHeaders(signer, method, path, raw);
  return http.request(method, `${TARGET}${path}`, raw || null, {
    headers: body === undefined ? headers : { ...json, ...headers },
    tags: { name: route },
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
