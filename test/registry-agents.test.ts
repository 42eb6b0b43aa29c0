import { beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../app/server.js';
import { newSigner, registerWithDid, signed } from './helpers/ainp.js';
import { agentBody, newClient, type Client } from './helpers/api.js';
import type pg from 'pg';
import { createTestStack } from './helpers/stack.js';
import { batchSizes, holdInserts } from './helpers/write-batches.js';

let broker: RunningBroker;
let owner: Client;
let other: Client;
let db: pg.Pool;

beforeAll(async () => {
  const stack = await createTestStack();
  db = stack.db;
  // Generous limits: this file is about behaviour, rate-limits.test.ts about limits.
  broker = await stack.broker({ RATE_LIMIT_REGISTER: '1000' });
  [owner, other] = await Promise.all([newClient(broker.url), newClient(broker.url)]);
});

describe('GET /api/v1/agents (search) on an empty registry', () => {
  it('returns exactly the empty page', async () => {
    const res = await owner.get('/api/v1/agents');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ agents: [], total: 0, limit: 50, offset: 0 });
  });
});

describe('POST /api/v1/agents/register', () => {
  it('registers an agent owned by the key address with id, agent_id and status active', async () => {
    const res = await owner.post('/api/v1/agents/register', agentBody({ metadata: { lang: 'en' } }));
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      owner_address: owner.address,
      chain_id: 8453,
      status: 'active',
      name: 'Translator',
      tags: ['translation'],
      metadata: { lang: 'en' },
      x402_support: false,
    });
    expect(res.body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.body.agent_id).toBeGreaterThanOrEqual(1);
    const got = await other.get(`/api/v1/agents/${res.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(res.body);
  });

  it('refuses an owner_address other than the key address (403 FORBIDDEN)', async () => {
    const res = await owner.post('/api/v1/agents/register', agentBody({ owner_address: other.address }));
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('FORBIDDEN');
  });

  it('accepts owner_address equal to the key address in any case', async () => {
    const res = await owner.post(
      '/api/v1/agents/register',
      agentBody({ owner_address: owner.address.toUpperCase().replace('0X', '0x') }),
    );
    expect(res.status).toBe(201);
  });

  it('rejects unknown fields, bad services, long tags and a bad chain id with 400 naming each', async () => {
    const res = await owner.post(
      '/api/v1/agents/register',
      agentBody({
        color: 'red',
        services: [{ name: 'ftp', endpoint: 'x' }],
        tags: ['t'.repeat(65)],
        chain_id: 0,
      }),
    );
    expect(res.status).toBe(400);
    const fields = res.body.details.map((d: any) => d.field);
    expect(fields).toEqual(expect.arrayContaining(['services.0.name', 'tags.0', 'chain_id', '(body)']));
  });

  it('gives concurrent registrations on one chain distinct consecutive agent_ids', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        owner.post('/api/v1/agents/register', agentBody({ chain_id: 777, name: `c${i}` })),
      ),
    );
    expect(results.every((r) => r.status === 201)).toBe(true);
    const ids = results.map((r) => r.body.agent_id).sort((a, b) => a - b);
    expect(ids).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('writes registrations that arrive together in one batch, each with its own outcome', async () => {
    const bound = newSigner();
    expect((await registerWithDid(broker.url, owner, bound, agentBody({ chain_id: 781 }))).status).toBe(201);
    const twice = newSigner();
    const before = await batchSizes(broker.url, 'register');
    // Inserts into agents wait: two lone registrations fill the two batches in flight
    // (DB_WRITE_BATCHES_IN_FLIGHT), every later one queues, then all go.
    const hold = await holdInserts(db, 'agents', broker.url, 'register');
    const fillers = [1, 2].map(() => owner.post('/api/v1/agents/register', agentBody({ chain_id: 784 })));
    await hold.waitBlocked(2);
    const sent = [
      ...Array.from({ length: 30 }, (_, i) =>
        owner.post('/api/v1/agents/register', agentBody({ chain_id: 782, name: `b${i}` })),
      ),
      ...Array.from({ length: 5 }, (_, i) =>
        other.post('/api/v1/agents/register', agentBody({ chain_id: 783, tags: [`t${i}`] })),
      ),
      registerWithDid(broker.url, other, bound, agentBody({ chain_id: 781 })), // bound before: 409
      registerWithDid(broker.url, owner, twice, agentBody({ chain_id: 781, name: 'first' })), // one of these
      registerWithDid(broker.url, other, twice, agentBody({ chain_id: 781, name: 'second' })), // two: 409
    ];
    await hold.waitQueued(sent.length);
    await hold.release();
    const results = await Promise.all(sent);
    expect((await Promise.all(fillers)).map((r) => r.status)).toEqual([201, 201]);
    // The two lone writes, then everything that queued behind them in one batch.
    expect(await batchSizes(broker.url, 'register')).toEqual({
      writes: before.writes + 2 + sent.length,
      batches: before.batches + 3,
    });

    const chain = (id: number) => results.filter((r) => r.status === 201 && r.body.chain_id === id);
    expect(
      chain(782)
        .map((r) => r.body.agent_id)
        .sort((a, b) => a - b),
    ).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(
      chain(783)
        .map((r) => r.body.agent_id)
        .sort((a, b) => a - b),
    ).toEqual([1, 2, 3, 4, 5]);
    expect(
      chain(783)
        .map((r) => r.body.tags[0])
        .sort(),
    ).toEqual(['t0', 't1', 't2', 't3', 't4']);
    expect(results.slice(0, 35).every((r) => r.status === 201)).toBe(true);
    expect(results[35]!.status).toBe(409);
    expect(results[35]!.body.error).toBe('CONFLICT');
    expect(
      results
        .slice(36)
        .map((r) => r.status)
        .sort(),
    ).toEqual([201, 409]);
    // Each answer is the row as stored, with its own body, owner and DID.
    for (const r of chain(782)) {
      expect((await other.get(`/api/v1/agents/${r.body.id}`)).body).toEqual(r.body);
      expect(r.body.owner_address).toBe(owner.address);
    }
    const won = results.slice(36).find((r) => r.status === 201)!;
    expect(won.body.did).toBe(twice.did);
    const { rows } = await db.query(
      `SELECT a.name, a.owner_address, (s.agent_uuid IS NOT NULL) AS stats,
              ARRAY(SELECT tag FROM agent_tags t WHERE t.agent_uuid = a.id) AS tags
         FROM agents a LEFT JOIN agent_feedback_stats s ON s.agent_uuid = a.id WHERE a.chain_id IN (782, 783)
          OR a.did = $1`,
      [twice.did],
    );
    expect(rows).toHaveLength(36);
    expect(rows.every((r) => r.stats)).toBe(true);
    expect(rows.filter((r) => r.name.startsWith('b')).every((r) => r.tags.join() === 'translation')).toBe(
      true,
    );
    expect(rows.find((r) => r.name === won.body.name)!.owner_address).toBe(won.body.owner_address);
  });

  it('keeps ids unique and increasing past a failed registration, which burns its number', async () => {
    const signer = newSigner();
    const first = await registerWithDid(broker.url, owner, signer, agentBody({ chain_id: 778 }));
    expect(first.status).toBe(201);
    const again = await registerWithDid(broker.url, owner, signer, agentBody({ chain_id: 778 }));
    expect(again.status).toBe(409);
    const next = await owner.post('/api/v1/agents/register', agentBody({ chain_id: 778 }));
    expect(next.status).toBe(201);
    expect(next.body.agent_id).toBeGreaterThan(first.body.agent_id);
    // The failed one left no half-written row and no connection in a failed transaction.
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM agents WHERE chain_id = 778`);
    expect(rows[0].n).toBe(2);
    const stats = await db.query(
      `SELECT count(*)::int AS n FROM agent_feedback_stats s JOIN agents a ON a.id = s.agent_uuid WHERE a.chain_id = 778`,
    );
    expect(stats.rows[0].n).toBe(2);
    // The rank base is written with the row: the discovery refresh has nothing left to change.
    const stale = await db.query(
      `SELECT count(*)::int AS n FROM agents a LEFT JOIN reputations p ON p.did = a.did
        LEFT JOIN agent_usefulness u ON u.did = a.did
        WHERE a.chain_id = 778 AND a.rank_base IS DISTINCT FROM 0.3 * coalesce(p.trust_score, 0.5) + 0.1 * coalesce(u.score, 0) / 100`,
    );
    expect(stale.rows[0].n).toBe(0);
    for (let i = 0; i < 25; i++) expect((await owner.get(`/api/v1/agents/${next.body.id}`)).status).toBe(200);
  });

  it('binds a DID only with the signature of that DID on the request (proof of control), and once', async () => {
    const agent = newSigner();
    // Without the DID's signature: an API key alone cannot bind someone's DID (401), nor can a
    // signature by another DID.
    const bare = await owner.post('/api/v1/agents/register', agentBody({ did: agent.did }));
    expect(bare.status).toBe(401);
    expect(bare.body.message).toMatch(/needs that DID's signature/);
    const impostor = newSigner();
    const wrong = await signed(
      broker.url,
      impostor,
      'POST',
      '/api/v1/agents/register',
      agentBody({ did: agent.did }),
      {
        Authorization: `Bearer ${owner.key}`,
      },
    );
    expect(wrong.status).toBe(401);
    expect((await registerWithDid(broker.url, owner, agent, agentBody())).status).toBe(201);
    // Its owner's DID signature on a second registration: the DID is already bound.
    const again = await registerWithDid(broker.url, other, agent, agentBody());
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('CONFLICT');
  });
});

describe('PATCH /api/v1/agents/:id', () => {
  it('lets only a key of the owner address change the agent, including its status', async () => {
    const { body: agent } = await owner.post('/api/v1/agents/register', agentBody({ chain_id: 5 }));
    const denied = await other.patch(`/api/v1/agents/${agent.id}`, { status: 'inactive' });
    expect(denied.status).toBe(403);
    const res = await owner.patch(`/api/v1/agents/${agent.id}`, {
      status: 'inactive',
      description: 'retired',
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'inactive', description: 'retired', name: agent.name });
    expect(new Date(res.body.updated_at).getTime()).toBeGreaterThanOrEqual(
      new Date(agent.updated_at).getTime(),
    );
  });

  it('rejects an empty patch, an unknown field and a bad status with 400', async () => {
    const { body: agent } = await owner.post('/api/v1/agents/register', agentBody());
    expect((await owner.patch(`/api/v1/agents/${agent.id}`, {})).status).toBe(400);
    expect((await owner.patch(`/api/v1/agents/${agent.id}`, { owner_address: other.address })).status).toBe(
      400,
    );
    expect((await owner.patch(`/api/v1/agents/${agent.id}`, { status: 'deleted' })).status).toBe(400);
  });

  it('is 404 for an unknown agent and 400 for a malformed id', async () => {
    expect(
      (await owner.patch('/api/v1/agents/6f9619ff-8b86-4011-b42d-00c04fc964ff', { status: 'active' })).status,
    ).toBe(404);
    expect((await owner.get('/api/v1/agents/not-a-uuid')).status).toBe(400);
  });
});

describe('GET /api/v1/agents/:id/registration', () => {
  it('returns the ERC-8004 registration-v1 file', async () => {
    const { body: agent } = await owner.post(
      '/api/v1/agents/register',
      agentBody({ image: 'https://img.example/a.png', x402_support: true }),
    );
    const res = await other.get(`/api/v1/agents/${agent.id}/registration`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      type: 'https://eips.ethereum.org/EIPS/eip-8004#registration-v1',
      name: 'Translator',
      description: 'Translates documents between languages',
      image: 'https://img.example/a.png',
      services: [
        { name: 'A2A', endpoint: 'https://agent.example/a2a', version: '0.3', skills: ['translate'] },
      ],
      x402Support: true,
      active: true,
      registrations: [
        { agentId: agent.agent_id, agentRegistry: 'eip155:8453:0x0000000000000000000000000000000000000000' },
      ],
      supportedTrust: ['reputation'],
    });
  });
});

describe('search filters and pagination', () => {
  it('filters by owner, chain, tag, text and status, and pages with total', async () => {
    const searcher = await newClient(broker.url);
    const mk = (extra: Record<string, unknown>) =>
      searcher.post('/api/v1/agents/register', agentBody({ chain_id: 999, ...extra }));
    await mk({ name: 'Weather oracle', description: 'Forecasts rain', tags: ['weather'] });
    await mk({ name: 'Code reviewer', description: 'Reviews pull requests', tags: ['code', 'review'] });
    const inactive = await mk({
      name: 'Old weather bot',
      description: 'Retired forecaster',
      tags: ['weather'],
    });
    await searcher.patch(`/api/v1/agents/${inactive.body.id}`, { status: 'inactive' });

    const mine = await searcher.get(`/api/v1/agents?owner_address=${searcher.address}`);
    expect(mine.body.total).toBe(2);
    const byTag = await searcher.get(`/api/v1/agents?owner_address=${searcher.address}&tag=weather`);
    expect(byTag.body.agents.map((a: any) => a.name)).toEqual(['Weather oracle']);
    const all = await searcher.get(`/api/v1/agents?owner_address=${searcher.address}&tag=weather&status=all`);
    expect(all.body.total).toBe(2);
    const text = await searcher.get(`/api/v1/agents?chain_id=999&q=pull%20requests`);
    expect(text.body.agents.map((a: any) => a.name)).toEqual(['Code reviewer']);
    const page = await searcher.get(`/api/v1/agents?owner_address=${searcher.address}&limit=1&offset=1`);
    expect(page.body).toMatchObject({ total: 2, limit: 1, offset: 1 });
    expect(page.body.agents).toHaveLength(1);
    const past = await searcher.get(`/api/v1/agents?owner_address=${searcher.address}&offset=10`);
    expect(past.body).toEqual({ agents: [], total: 2, limit: 50, offset: 10 });
  });

  it('keeps the total of a tag-only search exact through registration, changes of tags and status, and deletion', async () => {
    const tag = `tagcount${Date.now()}`;
    const c = await newClient(broker.url);
    const total = async (query = '') =>
      (await c.get(`/api/v1/agents?tag=${tag}${query}`)).body.total as number;
    const discovered = async () => (await c.get(`/api/discovery?tag=${tag}`)).body.total as number;
    const [a, b] = [
      (await c.post('/api/v1/agents/register', agentBody({ tags: [tag, tag, 'other'] }))).body,
      (await c.post('/api/v1/agents/register', agentBody({ tags: [tag] }))).body,
    ];
    expect([await total(), await total('&status=all'), await discovered()]).toEqual([2, 2, 2]);
    expect((await c.patch(`/api/v1/agents/${a.id}`, { tags: ['other'] })).status).toBe(200);
    expect(await total()).toBe(1);
    expect((await c.patch(`/api/v1/agents/${a.id}`, { tags: [tag] })).status).toBe(200);
    expect((await c.patch(`/api/v1/agents/${b.id}`, { status: 'inactive' })).status).toBe(200);
    expect([await total(), await total('&status=inactive'), await total('&status=all')]).toEqual([1, 1, 2]);
    expect(await discovered()).toBe(1);
    await db.query('DELETE FROM agents WHERE id = $1', [b.id]);
    expect([await total('&status=all'), await discovered()]).toEqual([1, 1]);
    // agent_tags is exactly the (tag, status, agent) set of agents, both ways.
    const drift = await db.query(
      `SELECT (SELECT count(*) FROM (SELECT DISTINCT t, status, id FROM agents, unnest(tags) t
                                     EXCEPT SELECT tag, status, agent_uuid FROM agent_tags) x)::int AS missing,
              (SELECT count(*) FROM (SELECT tag, status, agent_uuid FROM agent_tags
                                     EXCEPT SELECT DISTINCT t, status, id FROM agents, unnest(tags) t) y)::int AS extra`,
    );
    expect(drift.rows[0]).toEqual({ missing: 0, extra: 0 });
  });

  it('gives a text search and a text discovery their total past the last page', async () => {
    const word = `zebrafinch${Date.now()}`;
    const c = await newClient(broker.url);
    for (const name of ['first', 'second', 'third'])
      await c.post('/api/v1/agents/register', agentBody({ name: `${name} ${word}`, tags: ['ranked'] }));
    const page = await c.get(`/api/v1/agents?q=${word}&limit=2`);
    expect(page.body.total).toBe(3);
    expect(page.body.agents).toHaveLength(2);
    expect((await c.get(`/api/v1/agents?q=${word}&offset=5`)).body).toMatchObject({ agents: [], total: 3 });
    const found = await c.get(`/api/discovery?q=${word}&limit=2`);
    expect(found.body.total).toBe(3);
    expect(found.body.agents).toHaveLength(2);
    expect(found.body.agents[0].discovery.relevance).toBeGreaterThan(0);
    expect((await c.get(`/api/discovery?q=${word}&offset=5`)).body).toMatchObject({ agents: [], total: 3 });
  });

  it('rejects a limit over 100, an unknown filter and a bad trust level with 400', async () => {
    expect((await owner.get('/api/v1/agents?limit=101')).status).toBe(400);
    expect((await owner.get('/api/v1/agents?colour=red')).status).toBe(400);
    expect((await owner.get('/api/v1/agents?trust_level=legendary')).status).toBe(400);
  });
});
