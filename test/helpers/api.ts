import { randomBytes } from 'node:crypto';
import { ADMIN_TOKEN } from './admin-token.js';

export interface ApiResponse {
  status: number;
  body: any;
  headers: Headers;
}

export const randomAddress = () => `0x${randomBytes(20).toString('hex')}`;

export async function call(
  baseUrl: string,
  method: string,
  path: string,
  opts: { body?: unknown; token?: string; headers?: Record<string, string> } = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

/** A client bound to one API key (acting for `address`). */
export interface Client {
  address: string;
  key: string;
  get(path: string): Promise<ApiResponse>;
  post(path: string, body?: unknown): Promise<ApiResponse>;
  patch(path: string, body: unknown): Promise<ApiResponse>;
}

export async function newClient(baseUrl: string, address = randomAddress()): Promise<Client> {
  const created = await call(baseUrl, 'POST', '/api/admin/api-keys', {
    token: ADMIN_TOKEN,
    body: { name: `test ${address.slice(0, 8)}`, address },
  });
  if (created.status !== 201) throw new Error(`key creation failed: ${JSON.stringify(created.body)}`);
  const key = created.body.key as string;
  return {
    address: address.toLowerCase(),
    key,
    get: (path) => call(baseUrl, 'GET', path, { token: key }),
    post: (path, body) => call(baseUrl, 'POST', path, { token: key, body: body ?? {} }),
    patch: (path, body) => call(baseUrl, 'PATCH', path, { token: key, body }),
  };
}

export const agentBody = (extra: Record<string, unknown> = {}) => ({
  name: 'Translator',
  description: 'Translates documents between languages',
  chain_id: 8453,
  tags: ['translation'],
  services: [{ name: 'A2A', endpoint: 'https://agent.example/a2a', version: '0.3', skills: ['translate'] }],
  supported_trust: ['reputation'],
  ...extra,
});
