import type pg from 'pg';
import { refreshRankBase } from '../app/data/discovery-repository.js';

/** The words the seeded agents' names, descriptions, tags and skills are made of. */
export const SEED_WORDS = [
  'translate',
  'summarise',
  'legal',
  'medical',
  'image',
  'audio',
  'code',
  'review',
  'search',
  'weather',
  'finance',
  'contracts',
  'geocoding',
  'vision',
  'speech',
  'math',
];

/**
 * Inserts `count` agents by SQL (chain 1, DIDs `did:key:zBench<i>`) with their feedback stats,
 * a random trust and usefulness, then the discovery rank base of every agent and a VACUUM ANALYZE:
 * the steady state the aggregator and autovacuum leave after a bulk load. Agents already in the
 * table (registered over HTTP, on another chain) are kept and ranked too. Returns the seconds taken.
 */
export async function seedAgents(db: pg.Pool, count: number): Promise<number> {
  const t0 = performance.now();
  await db.query(
    `WITH g AS (SELECT i, $2::text[] AS w FROM generate_series(1, $1::int) i)
     INSERT INTO agents (chain_id, agent_id, owner_address, name, description, did, tags, services)
     SELECT 1, i, '0x00000000000000000000000000000000000000aa',
            'agent ' || w[1 + i % 16] || ' ' || i,
            'An agent that does ' || w[1 + i % 16] || ' and ' || w[1 + (i / 16) % 16] || ' for clients',
            'did:key:zBench' || i, ARRAY[w[1 + i % 16]],
            jsonb_build_array(jsonb_build_object('name', 'A2A', 'endpoint', 'https://a.example', 'skills', jsonb_build_array(w[1 + (i / 7) % 16])))
       FROM g`,
    [count, SEED_WORDS],
  );
  const seeded = `SELECT id, did FROM agents WHERE chain_id = 1 AND did LIKE 'did:key:zBench%'`;
  await db.query(`INSERT INTO agent_feedback_stats (agent_uuid) SELECT id FROM (${seeded}) s`);
  await db.query(`INSERT INTO reputations (did, trust_score) SELECT did, random() FROM (${seeded}) s`);
  await db.query(
    `INSERT INTO agent_usefulness (did, score, proofs) SELECT did, random() * 100, 1 FROM (${seeded}) s`,
  );
  // What the aggregator does after usefulness changes: the discovery rank base of every agent.
  await refreshRankBase(db, { relevance: 0.6, trust: 0.3, usefulness: 0.1 }, 'all');
  await db.query('VACUUM ANALYZE'); // steady state, as autovacuum leaves it after the bulk load
  return Math.round((performance.now() - t0) / 100) / 10;
}
