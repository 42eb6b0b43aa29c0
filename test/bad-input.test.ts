import { request } from 'node:http';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../app/server.js';
import { newSigner, signed } from './helpers/ainp.js';
import { agentBody, newClient } from './helpers/api.js';
import { createTestStack } from './helpers/stack.js';

let broker: RunningBroker;

beforeAll(async () => {
  const stack = await createTestStack();
  broker = await stack.broker();
});

const post = (path: string, body: string, contentType = 'application/json') =>
  fetch(`${broker.url}${path}`, { method: 'POST', headers: { 'Content-Type': contentType }, body });

async function expectError(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  const body = (await res.json()) as any;
  expect(body.error).toBe(code);
  expect(typeof body.message).toBe('string');
  expect(body.request_id).toBe(res.headers.get('x-request-id'));
  expect(JSON.stringify(body)).not.toMatch(/at .+\.(ts|js):\d+/); // no stack trace
  return body;
}

describe('bad input never yields a 500', () => {
  it('rejects malformed JSON with 400 VALIDATION_ERROR', async () => {
    const body = await expectError(
      await post('/api/v1/agents/register', '{"name": '),
      400,
      'VALIDATION_ERROR',
    );
    expect(body.message).toBe('Malformed JSON body');
  });

  it('rejects a non-JSON content type with 415', async () => {
    const body = await expectError(
      await post('/api/v1/agents/register', 'name=x', 'text/plain'),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    expect(body.message).toContain('text/plain');
  });

  it('rejects a body over 100 kB with 413 PAYLOAD_TOO_LARGE', async () => {
    const big = JSON.stringify({ description: 'x'.repeat(101 * 1024) });
    await expectError(await post('/api/v1/agents/register', big), 413, 'PAYLOAD_TOO_LARGE');
  });

  it('answers an unknown route with a JSON 404 naming it', async () => {
    const body = await expectError(await fetch(`${broker.url}/api/nothing-here`), 404, 'NOT_FOUND');
    expect(body.message).toBe('No route for GET /api/nothing-here');
  });

  it('rejects JSON that is not an object or array (strict mode) with 400', async () => {
    await expectError(await post('/api/v1/agents/register', '"just a string"'), 400, 'VALIDATION_ERROR');
  });

  it('rejects NUL characters in the body or the URL with 400 instead of failing in the database', async () => {
    const body = await expectError(
      await post('/api/v1/agents/register', JSON.stringify({ name: 'a\u0000b' })),
      400,
      'VALIDATION_ERROR',
    );
    expect(body.message).toContain('U+0000');
    await expectError(
      await post('/api/v1/agents/register', JSON.stringify({ metadata: { 'k\u0000': 'v' } })),
      400,
      'VALIDATION_ERROR',
    );
    await expectError(await fetch(`${broker.url}/api/v1/agents?q=a%00b`), 400, 'VALIDATION_ERROR');
  });

  it('rejects an unsupported body encoding with 415', async () => {
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        `${broker.url}/api/v1/agents/register`,
        { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'br-nope' } },
        (r) => {
          let body = '';
          r.on('data', (c) => (body += c));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end('{}');
    });
    expect(res.status).toBe(415);
    expect(JSON.parse(res.body).error).toBe('UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('inputs an attacker tried (SPEC section 10)', () => {
  const keyed = async () => newClient(broker.url);

  it('takes chain_id only as a JSON integer', async () => {
    const client = await keyed();
    for (const chain_id of [true, [5], '0x10', '5', 1.5]) {
      const res = await client.post('/api/v1/agents/register', agentBody({ chain_id }));
      expect(res.status, JSON.stringify(chain_id)).toBe(400);
      expect(JSON.stringify(res.body.details)).toContain('chain_id');
    }
    expect((await client.post('/api/v1/agents/register', agentBody({ chain_id: 8453 }))).status).toBe(201);
    expect((await client.get('/api/v1/agents?chain_id=0x10')).status).toBe(400);
    expect((await client.get('/api/v1/agents?chain_id=8453')).status).toBe(200);
  });

  it('keeps a feedback value within int128', async () => {
    const owner = await keyed();
    const agent = (await owner.post('/api/v1/agents/register', agentBody())).body;
    const rater = await keyed();
    const give = (value: string) =>
      rater.post('/api/v1/agents/feedback', { agent_id: agent.id, value, value_decimals: 0 });
    expect((await give('9'.repeat(39))).status).toBe(400);
    expect((await give((2n ** 127n).toString())).status).toBe(400);
    expect((await give((-(2n ** 127n) - 1n).toString())).status).toBe(400);
    expect((await give((2n ** 127n - 1n).toString())).status).toBe(201);
  });

  it('stores only https, http, ipfs and ar URIs, and no script endpoint', async () => {
    const client = await keyed();
    for (const image of ['javascript:alert(1)', 'data:text/html,x', 'ftp://x/y', 'x']) {
      const res = await client.post('/api/v1/agents/register', agentBody({ image }));
      expect(res.status, image).toBe(400);
    }
    const script = await client.post(
      '/api/v1/agents/register',
      agentBody({ services: [{ name: 'web', endpoint: 'javascript:alert(1)' }] }),
    );
    expect(script.status).toBe(400);
    for (const image of ['https://x.example/a.png', 'ipfs://bafy', 'ar://tx'])
      expect((await client.post('/api/v1/agents/register', agentBody({ image }))).status, image).toBe(201);
  });

  it('refuses strings that are not valid Unicode (a lone surrogate)', async () => {
    const res = await fetch(`${broker.url}/api/v1/agents/register`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${(await keyed()).key}` },
      body: '{"name":"\\ud800","description":"x","chain_id":1}',
    });
    const body = await expectError(res, 400, 'VALIDATION_ERROR');
    expect(body.message).toBe('Strings must be valid Unicode (no lone surrogate)');
  });

  it('refuses amounts above 10^30 with 400, never a 500', async () => {
    const signer = newSigner();
    const big = (10n ** 30n + 1n).toString();
    const intent = await signed(broker.url, signer, 'POST', '/api/intents', {
      intent_type: 'x',
      description: 'y',
      budget_atomic: big,
    });
    expect(intent.status).toBe(400);
    const stake = await signed(broker.url, signer, 'POST', '/api/stakes', {
      amount_atomic: '9'.repeat(78),
      lock_seconds: 60,
    });
    expect(stake.status).toBe(400);
  });
});
