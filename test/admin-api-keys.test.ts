import { beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../app/server.js';
import { call, newClient, randomAddress } from './helpers/api.js';
import { ADMIN_TOKEN, createTestStack, type TestStack } from './helpers/stack.js';

let stack: TestStack;
let broker: RunningBroker;
beforeAll(async () => {
  stack = await createTestStack();
  broker = await stack.broker();
});

describe('/api/admin/api-keys', () => {
  it('creates a key acting for one lowercased address, shown once and stored only as a hash', async () => {
    const address = randomAddress().toUpperCase().replace('0X', '0x');
    const res = await call(broker.url, 'POST', '/api/admin/api-keys', {
      token: ADMIN_TOKEN,
      body: { name: 'ci', address },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: 'ci', address: address.toLowerCase() });
    expect(res.body.key).toMatch(/^ainp_[A-Za-z0-9_-]{43}$/);
    expect(res.body.prefix).toBe(res.body.key.slice(0, 12));
    const stored = await stack.db.query('SELECT key_hash, prefix FROM api_keys WHERE id = $1', [res.body.id]);
    expect(stored.rows[0].key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(stored.rows[0])).not.toContain(res.body.key);

    const list = await call(broker.url, 'GET', '/api/admin/api-keys?limit=100', { token: ADMIN_TOKEN });
    expect(list.status).toBe(200);
    const listed = list.body.api_keys.find((k: any) => k.id === res.body.id);
    expect(listed).toMatchObject({ prefix: res.body.prefix, revoked_at: null });
    expect(listed.key).toBeUndefined();
    expect(JSON.stringify(list.body)).not.toContain(res.body.key);
  });

  it('refuses without the admin token, with a wrong one, or with an API key', async () => {
    const body = { name: 'x', address: randomAddress() };
    expect((await call(broker.url, 'POST', '/api/admin/api-keys', { body })).status).toBe(401);
    expect(
      (
        await call(broker.url, 'POST', '/api/admin/api-keys', {
          body,
          token: 'wrong-token-wrong-token-wrong',
        })
      ).status,
    ).toBe(401);
    const client = await newClient(broker.url);
    expect((await call(broker.url, 'GET', '/api/admin/api-keys', { token: client.key })).status).toBe(401);
  });

  it('rejects a bad address and unknown fields with 400 naming them', async () => {
    const res = await call(broker.url, 'POST', '/api/admin/api-keys', {
      token: ADMIN_TOKEN,
      body: { name: 'x', address: '0x123', extra: true },
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('VALIDATION_ERROR');
    const fields = res.body.details.map((d: any) => d.field);
    expect(fields).toContain('address');
    expect(res.body.details.find((d: any) => d.keys)?.keys).toEqual(['extra']);
  });

  it('revokes a key: it is 401 at once, and revoking an unknown id is 404', async () => {
    const client = await newClient(broker.url);
    expect((await client.get('/api/v1/agents')).status).toBe(200);
    const list = await call(broker.url, 'GET', '/api/admin/api-keys?limit=100', { token: ADMIN_TOKEN });
    const id = list.body.api_keys.find((k: any) => k.address === client.address).id;
    const revoked = await call(broker.url, 'DELETE', `/api/admin/api-keys/${id}`, { token: ADMIN_TOKEN });
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked_at).not.toBeNull();
    const after = await client.get('/api/v1/agents');
    expect(after.status).toBe(401);
    expect(after.body.error).toBe('UNAUTHORIZED');
    const missing = await call(
      broker.url,
      'DELETE',
      `/api/admin/api-keys/00000000-0000-4000-8000-000000000000`,
      {
        token: ADMIN_TOKEN,
      },
    );
    expect(missing.status).toBe(404);
  });

  it('rejects an unknown key and a missing key with 401', async () => {
    expect((await call(broker.url, 'GET', '/api/v1/agents', { token: 'ainp_nope' })).status).toBe(401);
    const none = await call(broker.url, 'GET', '/api/v1/agents');
    expect(none.status).toBe(401);
    expect(none.body.message).toContain('API key is required');
  });
});
