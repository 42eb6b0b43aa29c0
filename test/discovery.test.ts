import { beforeAll, describe, expect, it } from 'vitest';
import { parseEnv } from '../app/config/env.js';
import { refreshRankBase } from '../app/data/discovery-repository.js';
import { discoveryWeights } from '../app/services/discovery-service.js';
import type { RunningBroker } from '../app/server.js';
import { newSigner, registerWithDid } from './helpers/ainp.js';
import { agentBody, newClient, type Client } from './helpers/api.js';
import { createTestStack, type TestStack } from './helpers/stack.js';

let stack: TestStack;
let broker: RunningBroker;
let client: Client;

beforeAll(async () => {
  stack = await createTestStack();
  broker = await stack.broker({ RATE_LIMIT_REGISTER: '1000' });
  client = await newClient(broker.url);
});

async function agent(
  name: string,
  description: string,
  trust: number | null,
  usefulness: number | null,
  extra = {},
) {
  const signer = newSigner();
  const did = signer.did;
  const res = await registerWithDid(
    broker.url,
    client,
    signer,
    agentBody({ name, description, tags: ['disc'], ...extra }),
  );
  if (trust !== null)
    await stack.db.query(`INSERT INTO reputations (did, trust_score) VALUES ($1, $2)`, [did, trust]);
  if (usefulness !== null)
    await stack.db.query(`INSERT INTO agent_usefulness (did, score, proofs) VALUES ($1, $2, 1)`, [
      did,
      usefulness,
    ]);
  // What finalization and the aggregator do after trust or usefulness change.
  await refreshRankBase(stack.db, discoveryWeights(broker.ctx.env), { dids: [did] });
  return res.body.id as string;
}

describe('GET /api/discovery', () => {
  it('ranks by 0.3·trust + 0.1·usefulness/100 without a query (hand-computed)', async () => {
    const a = await agent('Alpha', 'plain', 0.9, 50);
    const b = await agent('Bravo', 'plain', null, null);
    const c = await agent('Charlie', 'plain', 0.2, 100);
    const res = await client.get('/api/discovery?tag=disc&limit=10');
    expect(res.status).toBe(200);
    const ranked = res.body.agents.filter((x: any) => [a, b, c].includes(x.id));
    expect(ranked.map((x: any) => x.id)).toEqual([a, c, b]);
    expect(ranked.map((x: any) => x.discovery.score)).toEqual([0.32, 0.16, 0.15]);
    expect(ranked[1].discovery).toEqual({ score: 0.16, relevance: 0, trust: 0.2, usefulness: 100 });
  });

  it('puts a more useful, more trusted agent above an equally relevant one', async () => {
    const text = 'Summarises legal contracts into plain language';
    const plain = await agent('Contract bot', text, 0.5, 10);
    const better = await agent('Contract bot', text, 0.8, 90);
    const res = await client.get(`/api/discovery?q=${encodeURIComponent('legal contracts')}`);
    const ids = res.body.agents.map((x: any) => x.id);
    expect(ids.indexOf(better)).toBeLessThan(ids.indexOf(plain));
    const [b, p] = [better, plain].map((id) => res.body.agents.find((x: any) => x.id === id).discovery);
    expect(b.relevance).toBe(p.relevance);
    expect(b.relevance).toBeGreaterThan(0);
    expect(b.score - p.score).toBeCloseTo(0.3 * (0.8 - 0.5) + (0.1 * (90 - 10)) / 100, 6);
    expect(b.score).toBeCloseTo(0.6 * b.relevance + 0.3 * 0.8 + 0.1 * 0.9, 5); // inputs rounded to 1e-6
  });

  it('matches service skills and excludes inactive agents and non-matches', async () => {
    const skilled = await agent('Opaque name', 'nothing here', null, null, {
      services: [{ name: 'MCP', endpoint: 'https://x.example/mcp', skills: ['geocoding'] }],
    });
    const res = await client.get('/api/discovery?q=geocoding');
    expect(res.body.agents.map((x: any) => x.id)).toEqual([skilled]);
    expect(res.body.total).toBe(1);
    await client.patch(`/api/v1/agents/${skilled}`, { status: 'inactive' });
    expect((await client.get('/api/discovery?q=geocoding')).body).toEqual({
      agents: [],
      total: 0,
      limit: 50,
      offset: 0,
    });
  });

  it('needs credentials and validates its query', async () => {
    expect((await fetch(`${broker.url}/api/discovery`)).status).toBe(401);
    expect((await client.get('/api/discovery?limit=0')).status).toBe(400);
  });
});

describe('paging through many matches', () => {
  it('returns the exact top of a broad match set, page by page', async () => {
    // 450 matches (more than two chunks) with distinct trust; the best page must be the highest trust.
    await stack.db.query(
      `WITH g AS (SELECT i FROM generate_series(1, 450) i)
       INSERT INTO agents (chain_id, agent_id, owner_address, name, description, did, tags)
       SELECT 4242, i, '0x00000000000000000000000000000000000000aa', 'bulk ' || i, 'bulk widget maker', 'did:key:zBulk' || i, ARRAY['bulk'] FROM g`,
    );
    await stack.db.query(
      `INSERT INTO reputations (did, trust_score) SELECT did, agent_id / 1000.0 FROM agents WHERE chain_id = 4242`,
    );
    await refreshRankBase(stack.db, discoveryWeights(broker.ctx.env), 'all');
    const first = await client.get('/api/discovery?q=widget&limit=5');
    expect(first.body.total).toBe(450);
    expect(first.body.agents.map((a: any) => a.name)).toEqual([
      'bulk 450',
      'bulk 449',
      'bulk 448',
      'bulk 447',
      'bulk 446',
    ]);
    const deep = await client.get('/api/discovery?q=widget&limit=5&offset=300');
    expect(deep.body.agents.map((a: any) => a.name)).toEqual([
      'bulk 150',
      'bulk 149',
      'bulk 148',
      'bulk 147',
      'bulk 146',
    ]);
    expect(deep.body.agents[0].discovery.trust).toBe(0.15);
  });
});

describe('discovery weights', () => {
  it('stop the broker at start when they do not sum to 1', () => {
    expect(() => parseEnv({ DISCOVERY_WEIGHT_RELEVANCE: '0.5' })).toThrow(
      /must sum to 1 \(they sum to 0\.9\)/,
    );
    expect(
      parseEnv({ DISCOVERY_WEIGHT_RELEVANCE: '0.5', DISCOVERY_WEIGHT_TRUST: '0.4' }).DISCOVERY_WEIGHT_TRUST,
    ).toBe(0.4);
  });
});
