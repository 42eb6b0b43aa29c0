import { beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../app/server.js';
import { newClient, type Client } from './helpers/api.js';
import { ADMIN_TOKEN, createTestStack } from './helpers/stack.js';

/**
 * The routes Express serves and the operations /openapi.json documents are one list, and what the
 * document says about auth and rate limits is what the server does. The Express side is read from
 * the app's router stacks (not from the route declarations), the auth and limits by calling every
 * operation: without credentials, with an API key, with the admin token.
 */

let broker: RunningBroker;
let doc: any;
let client: Client;
// Distinct limits per class, so a header names the class that counted the request.
const LIMITS = {
  RATE_LIMIT_REGISTER: '11',
  RATE_LIMIT_FEEDBACK: '102',
  RATE_LIMIT_LINK_PAYMENT: '53',
  RATE_LIMIT_SEARCH: '304',
  RATE_LIMIT_GET: '1005',
  RATE_LIMIT_WRITE: '106',
  RATE_LIMIT_SIGNED_WRITE: '127',
  RATE_LIMIT_API_READ: '1008',
  RATE_LIMIT_FINALIZE: '69',
  RATE_LIMIT_ADMIN: '130',
  RATE_LIMIT_PROBE: '611',
};

beforeAll(async () => {
  const stack = await createTestStack();
  broker = await stack.broker(LIMITS);
  doc = await (await fetch(`${broker.url}/openapi.json`)).json();
  client = await newClient(broker.url);
});

type Layer = {
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
  rawPath?: string;
};

/** `METHOD /path/{param}` for every route in the app's router stacks, mounted routers included. */
function expressRoutes(stack: Layer[], prefix = ''): string[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      const path = `${prefix}${layer.route.path}`.replace(/:([a-z_]+)/g, '{$1}').replace(/(.)\/$/, '$1');
      return Object.keys(layer.route.methods).map((m) => `${m.toUpperCase()} ${path}`);
    }
    if (layer.handle.stack) {
      const mount = !layer.rawPath || layer.rawPath === '/' ? '' : layer.rawPath;
      return expressRoutes(layer.handle.stack, `${prefix}${mount}`);
    }
    return [];
  });
}

const METHODS = ['get', 'post', 'patch', 'delete', 'put'];
/** Every documented operation but GET /ws, which the HTTP server's upgrade listener serves, not Express (test/realtime.test.ts covers it). */
const operations = () =>
  Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method) && path !== '/ws')
      .map(([method, op]) => ({ method: method.toUpperCase(), path, op })),
  );

/** One request; the body is not read (some routes answer text or HTML). */
async function send(method: string, path: string, token?: string) {
  const hasBody = method === 'POST' || method === 'PATCH';
  const res = await fetch(`${broker.url}${path}`, {
    method,
    redirect: 'manual',
    headers: {
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(hasBody ? { 'Content-Type': 'application/json' } : {}),
    },
    body: hasBody ? '{}' : undefined,
  });
  await res.arrayBuffer();
  return res;
}

/** A well-formed value for each path parameter, naming nothing that exists. */
const SAMPLE: Record<string, string> = {
  id: '00000000-0000-4000-8000-000000000000',
  task_id: '00000000-0000-4000-8000-000000000000',
  did: 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK',
  client_address: `0x${'1'.repeat(40)}`,
  index: '1',
  request_hash: `0x${'2'.repeat(64)}`,
};
const concrete = (path: string) => path.replace(/\{([a-z_]+)\}/g, (_, name: string) => SAMPLE[name]!);

describe('GET /openapi.json against the Express routes', () => {
  it('documents every Express route, and every documented operation is an Express route', () => {
    const app = broker.app;
    const served = new Set(expressRoutes((app as unknown as { router: { stack: Layer[] } }).router.stack));
    const documented = new Set(operations().map((o) => `${o.method} ${o.path}`));
    expect(served.size).toBeGreaterThan(30);
    expect([...served].filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((r) => !served.has(r))).toEqual([]);
  });

  it('gives every operation its auth and, where it has one, its rate limit', () => {
    const kinds = new Set(['none', 'api-key', 'did', 'did-or-api-key', 'admin']);
    for (const { method, path, op } of operations()) {
      expect(kinds.has(op['x-ainp-auth']), `${method} ${path}`).toBe(true);
      expect(Boolean(op.security), `${method} ${path} security`).toBe(op['x-ainp-auth'] !== 'none');
    }
    const limited = operations().filter((o) => o.op['x-ainp-rate-limit']);
    // Every route counts against a limit (SPEC 10), except the two probes the kubelet calls for
    // every pod from one address and the static /docs page (the WebSocket has its per-IP connect
    // limit instead).
    const unlimited = ['/live', '/ready', '/docs'];
    expect(limited.map((o) => `${o.method} ${o.path}`).sort()).toEqual(
      operations()
        .filter((o) => !unlimited.includes(o.path))
        .map((o) => `${o.method} ${o.path}`)
        .sort(),
    );
  });

  it('enforces the documented auth and rate limit on every operation', async () => {
    const checked: string[] = [];
    for (const { method, path, op } of operations()) {
      const url = concrete(path);
      const auth = op['x-ainp-auth'] as string;
      const limit = op['x-ainp-rate-limit'];
      const name = `${method} ${path} (${auth})`;

      const anonymous = await send(method, url);
      expect(anonymous.status === 401, `${name} without credentials: ${anonymous.status}`).toBe(
        auth !== 'none',
      );
      expect(anonymous.headers.get('ratelimit-limit'), `${name} limit header`).toBe(
        limit ? String(limit.limit) : null,
      );
      if (limit) {
        const env = `RATE_LIMIT_${String(limit.class).toUpperCase()}` as keyof typeof LIMITS;
        expect(String(limit.limit), name).toBe(LIMITS[env]);
        expect(limit.window_seconds, name).toBe(60);
      }

      const withKey = await send(method, url, client.key);
      const keyAccepted = ['none', 'api-key', 'did-or-api-key'].includes(auth);
      expect(withKey.status === 401, `${name} with an API key: ${withKey.status}`).toBe(!keyAccepted);

      if (auth === 'admin') {
        const admin = await send(method, url, ADMIN_TOKEN);
        expect(admin.status, `${name} with the admin token`).not.toBe(401);
      }
      checked.push(name);
    }
    expect(checked.length).toBeGreaterThan(30);
  });
});
