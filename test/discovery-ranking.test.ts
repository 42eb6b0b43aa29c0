import { beforeAll, describe, expect, it } from 'vitest';
import { discoverAgents, refreshRankBase } from '../app/data/discovery-repository.js';
import { positiveSearchText } from '../app/domain/search-text.js';
import { DiscoveryQuery } from '../app/schemas/pou.js';
import type { RunningBroker } from '../app/server.js';
import { newClient, type Client } from './helpers/api.js';
import { createTestStack, type TestStack } from './helpers/stack.js';

/**
 * Discovery's text ranking (docs/discovery.md) on a corpus of a few thousand agents with
 * overlapping words, generated from a fixed seed: every page the broker returns equals the one the
 * definition gives when every match is scored and sorted in full, for single words, two words, a
 * phrase, a negation and an `or`, with and without a tag, on the first and the second page.
 */

let stack: TestStack;
let broker: RunningBroker;
let client: Client;

const AGENTS = 3000;
const WORDS = ['legal', 'contracts', 'medical', 'audio', 'vision', 'review', 'translate', 'finance'];
const FILLER = ['fast', 'careful', 'agent', 'service', 'for', 'clients', 'with', 'the'];
const TAGS = ['alpha', 'beta', 'gamma'];
const WEIGHTS = { relevance: 0.6, trust: 0.3, usefulness: 0.1 };

/** mulberry32: a small PRNG, so the corpus is the same on every run. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function corpus(seed: number) {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const text = (n: number) => Array.from({ length: n }, () => (rnd() < 0.6 ? pick(WORDS) : pick(FILLER)));
  return Array.from({ length: AGENTS }, (_, i) => ({
    i: i + 1,
    name: [...text(1 + Math.floor(rnd() * 3)), String(i + 1)].join(' '),
    description: text(3 + Math.floor(rnd() * 12)).join(' '),
    tags: [pick(TAGS), ...(rnd() < 0.3 ? [pick(WORDS)] : [])],
    skills: rnd() < 0.5 ? [pick(WORDS)] : [],
    // Trust and usefulness on a coarse grid, so equal scores occur and the id tie-break is exercised.
    trust: Math.floor(rnd() * 5) / 4,
    usefulness: Math.floor(rnd() * 3) * 50,
    active: rnd() < 0.95,
  }));
}

beforeAll(async () => {
  stack = await createTestStack();
  broker = await stack.broker();
  client = await newClient(broker.url);
  const agents = corpus(35);
  await stack.db.query(
    `INSERT INTO agents (chain_id, agent_id, owner_address, name, description, did, tags, services, status)
     SELECT 7, x.i, '0x00000000000000000000000000000000000000bb', x.name, x.description, 'did:key:zRank' || x.i,
            x.tags, jsonb_build_array(jsonb_build_object('name', 'A2A', 'endpoint', 'https://a.example', 'skills', x.skills)),
            CASE WHEN x.active THEN 'active' ELSE 'inactive' END
       FROM jsonb_to_recordset($1::jsonb) AS x(i int, name text, description text, tags text[], skills jsonb, active boolean)`,
    [JSON.stringify(agents)],
  );
  await stack.db.query(
    `INSERT INTO reputations (did, trust_score) SELECT 'did:key:zRank' || x.i, x.trust
       FROM jsonb_to_recordset($1::jsonb) AS x(i int, trust float8)`,
    [JSON.stringify(agents)],
  );
  await stack.db.query(
    `INSERT INTO agent_usefulness (did, score, proofs) SELECT 'did:key:zRank' || x.i, x.usefulness, 1
       FROM jsonb_to_recordset($1::jsonb) AS x(i int, usefulness float8)`,
    [JSON.stringify(agents)],
  );
  await refreshRankBase(stack.db, WEIGHTS, 'all');
}, 120_000);

/**
 * The definition, the slow way: every match scored with ts_rank against the query's positive part
 * (written out by hand in each case), capped at 1, then all of them sorted by score and id.
 */
async function reference(q: string, positive: string, tag: string | null) {
  const { rows } = await stack.db.query<{ id: string; relevance: number; score: number }>(
    `SELECT id, relevance, $3::float8 * relevance + rank_base AS score FROM (
       SELECT a.id, a.rank_base,
              least(1::real, ts_rank(a.discovery_vector, websearch_to_tsquery('english', $2))) AS relevance
         FROM agents a
        WHERE a.status = 'active' AND a.discovery_vector @@ websearch_to_tsquery('english', $1)
          AND ($4::text IS NULL OR $4 = ANY(a.tags))
     ) s ORDER BY score DESC, id`,
    [q, positive, WEIGHTS.relevance, tag],
  );
  return rows;
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;

const CASES = [
  { what: 'one word', q: 'legal', positive: 'legal' },
  { what: 'two words', q: 'legal contracts', positive: 'legal contracts' },
  { what: 'a phrase', q: '"legal contracts"', positive: '"legal contracts"' },
  { what: 'a negation', q: 'review -medical', positive: 'review' },
  { what: 'an or', q: 'vision or audio', positive: 'vision or audio' },
  {
    what: 'words, a negation and an or',
    q: 'translate finance or -legal audio',
    positive: 'translate finance or audio',
  },
];

describe('discovery ranking (docs/discovery.md) on a seeded corpus', () => {
  for (const c of CASES)
    for (const tag of [null, 'beta'])
      it(`gives the exact first and second page for ${c.what}${tag ? ' within a tag' : ''}`, async () => {
        const raw = { q: c.q, limit: '20', ...(tag ? { tag } : {}) };
        const q = DiscoveryQuery.parse(raw).q!;
        expect(positiveSearchText(q)).toBe(c.positive);
        const all = await reference(q, c.positive, tag);
        // A broad match set, so the pages are a small part of what is ranked.
        expect(all.length).toBeGreaterThan(tag ? 30 : 100);
        for (const offset of [0, 20]) {
          const page = await discoverAgents(
            stack.db,
            DiscoveryQuery.parse({ ...raw, offset: String(offset) }),
            WEIGHTS,
          );
          expect(page.total).toBe(all.length);
          const want = all.slice(offset, offset + 20);
          expect(page.results.map((r) => r.agent.id)).toEqual(want.map((r) => r.id));
          expect(page.results.map((r) => [r.score, r.relevance])).toEqual(
            want.map((r) => [round(r.score), round(r.relevance)]),
          );
        }
      });

  it('ranks by the positive part of the query: negated words and the ors left dangling go', () => {
    const positive = (raw: string) => positiveSearchText(DiscoveryQuery.parse({ q: raw }).q!);
    expect(positive('-legal -contracts')).toBeNull();
    expect(positive('-legal or finance')).toBe('finance');
    expect(positive('legal or -finance or audio')).toBe('legal or audio');
    expect(positive('"black or white" -grey')).toBe('"black or white"');
    expect(positive('state-of-the-art -x-ray')).toBe('state-of-the-art');
  });

  it('serves the same first page over HTTP', async () => {
    const res = await client.get(`/api/discovery?q=${encodeURIComponent('legal contracts')}&limit=20`);
    expect(res.status).toBe(200);
    const all = await reference('legal contracts', 'legal contracts', null);
    expect(res.body.total).toBe(all.length);
    expect(res.body.agents.map((a: { id: string }) => a.id)).toEqual(all.slice(0, 20).map((r) => r.id));
  });

  it('scores a negated query by its other words, and words side by side above words apart', async () => {
    // ts_rank of the whole query would be ~0 for every match of a negation: its positive part is ranked.
    const page = await discoverAgents(stack.db, DiscoveryQuery.parse({ q: 'review -medical' }), WEIGHTS);
    expect(page.results.length).toBe(50);
    expect(Math.min(...page.results.map((r) => r.relevance))).toBeGreaterThan(0.01);
    // Two agents alike but for where the two words stand: side by side in the name, or apart in the description.
    await stack.db.query(
      `INSERT INTO agents (chain_id, agent_id, owner_address, name, description, did, tags)
       VALUES (8, 1, '0x00000000000000000000000000000000000000bb', 'zephyr quokka desk', 'plain words here',
               'did:key:zNear', ARRAY['zq']),
              (8, 2, '0x00000000000000000000000000000000000000bb', 'zephyr desk', 'a helper for clients of a firm of quokka breeders',
               'did:key:zApart', ARRAY['zq'])`,
    );
    await refreshRankBase(stack.db, WEIGHTS, { dids: ['did:key:zNear', 'did:key:zApart'] });
    const res = await client.get('/api/discovery?q=zephyr%20quokka');
    expect(res.body.agents.map((a: { name: string }) => a.name)).toEqual([
      'zephyr quokka desk',
      'zephyr desk',
    ]);
    const [near, apart] = res.body.agents.map(
      (a: { discovery: { relevance: number } }) => a.discovery.relevance,
    );
    expect(near).toBeGreaterThan(apart);
    expect(near).toBeLessThanOrEqual(1);
  });
});
