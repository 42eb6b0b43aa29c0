import { beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../app/server.js';
import { freePort } from '../app/local/free-port.js';
import { createTestStack, type TestStack } from './helpers/stack.js';

let stack: TestStack;
let broker: RunningBroker;

beforeAll(async () => {
  stack = await createTestStack();
  broker = await stack.broker();
});

const get = (path: string, init?: RequestInit) => fetch(`${broker.url}${path}`, init);

describe('GET /health', () => {
  it('reports healthy with every dependency up and the schema at head', async () => {
    const res = await get('/health');
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body).toMatchObject({
      status: 'healthy',
      version: '0.1.0',
      checks: { database: 'up', redis: 'up', nats: 'up', migrations: 'up_to_date' },
    });
    expect(new Date(body.timestamp).toISOString()).toBe(body.timestamp);
  });
});

describe('GET /ready, /live, /api/v1/agents/health', () => {
  it('is ready when the database answers and migrations are at head', async () => {
    const res = await get('/ready');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ready: true });
  });

  it('is alive', async () => {
    expect((await (await get('/live')).json()) as any).toEqual({ alive: true });
  });

  it('reports registry health with database and redis', async () => {
    const body = (await (await get('/api/v1/agents/health')).json()) as any;
    expect(body).toMatchObject({ status: 'healthy', database: 'up', redis: 'up' });
  });
});

describe('X-Request-ID', () => {
  it('echoes a well-formed id sent by the client', async () => {
    const res = await get('/live', { headers: { 'X-Request-ID': 'abc-123.x' } });
    expect(res.headers.get('x-request-id')).toBe('abc-123.x');
  });

  it('generates a UUID when none (or a malformed one) is sent, and puts it in error bodies', async () => {
    const res = await get('/nope', { headers: { 'X-Request-ID': 'bad id with spaces' } });
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(((await res.json()) as any).request_id).toBe(id);
  });
});

describe('GET /metrics', () => {
  it('counts requests by route template, not raw path, and exports pool and process metrics', async () => {
    await get('/live');
    await get('/no/such/route/123');
    const text = await (await get('/metrics')).text();
    expect(text).toMatch(/ainp_http_requests_total\{method="GET",route="\/live",status="200"\} [1-9]/);
    expect(text).toMatch(/ainp_http_requests_total\{method="GET",route="unmatched",status="404"\} [1-9]/);
    expect(text).toMatch(/ainp_http_request_duration_seconds_bucket\{le="0.005",method="GET",route="\/live"/);
    expect(text).toMatch(/ainp_db_pool_connections\{state="total"\} \d+/);
    expect(text).toContain('ainp_process_resident_memory_bytes');
    expect(text).toMatch(/^ainp_receipts_pending 0$/m);
    expect(text).toMatch(/^ainp_outbox_backlog 0$/m);
    expect(text).not.toContain('no/such/route/123');
  });
});

describe('GET /openapi.json and /docs', () => {
  it('with METRICS_PORT, serves /metrics on that port only, never on the API port', async () => {
    const port = await freePort();
    const b = await stack.broker({ METRICS_PORT: String(port) });
    expect((await fetch(`${b.url}/metrics`)).status).toBe(404);
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('ainp_http_requests_total');
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(404);
    const doc = (await (await fetch(`${b.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(doc.paths).not.toHaveProperty('/metrics');
  });

  it('serves an OpenAPI 3.1 document describing the platform endpoints', async () => {
    const doc = (await (await get('/openapi.json')).json()) as any;
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/health', '/ready', '/live', '/metrics']),
    );
    expect(
      doc.paths['/health'].get.responses['200'].content['application/json'].schema.properties.status.enum,
    ).toEqual(['healthy', 'degraded', 'unhealthy']);
  });

  it('serves human docs that load the OpenAPI document', async () => {
    const res = await get('/docs/');
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('swagger-ui');
    const init = await (await get('/docs/swagger-ui-init.js')).text();
    expect(init).toContain('/openapi.json');
  });
});

describe('probes under load (issue 34, item 17)', () => {
  it('answers /health and /ready from one dependency check a second, however many ask', async () => {
    const b = await stack.broker({ RATE_LIMIT_PROBE: '100000' });
    let pings = 0;
    const db = b.ctx.db as unknown as { query: (...args: unknown[]) => unknown };
    const query = db.query.bind(db);
    db.query = (...args: unknown[]) => {
      if (args[0] === 'SELECT 1') pings += 1;
      return query(...args);
    };
    await fetch(`${b.url}/health`); // the first check, then 200 probes inside its second
    const started = Date.now();
    pings = 0;
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        fetch(`${b.url}${i % 2 ? '/health' : '/ready'}`).then((r) => r.status),
      ),
    );
    const elapsed = Date.now() - started;
    expect(answers.every((s) => s === 200)).toBe(true);
    // One check per kind (all, database) per second at most: the checks fit the time the burst took.
    expect(pings).toBeLessThanOrEqual(2 * Math.ceil((elapsed + 1) / 1000));
    expect(pings).toBeGreaterThanOrEqual(1);
  });
});
