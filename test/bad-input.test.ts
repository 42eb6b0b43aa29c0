import { request } from 'node:http';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../app/server.js';
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
