import type pg from 'pg';

/**
 * Writes `n` settled receipts that are ready to finalize (k AUDIT_PASS from a committee of k), or
 * with `ready: false` receipts with no attestation yet, spread over `providers`, straight into the
 * database: the fixture for finalizer tests and benchmarks, where going through HTTP would measure
 * the API instead. `created_at` keeps PostgreSQL's microseconds, as settle writes it.
 */
export async function seedReadyReceipts(
  db: pg.Pool | pg.PoolClient,
  opts: { n: number; providers: string[]; committee: string[]; client?: string; ready?: boolean },
): Promise<void> {
  const client = opts.client ?? 'did:key:zSeedClient';
  const k = opts.committee.length;
  const attesters = opts.ready === false ? [] : opts.committee;
  await db.query(
    `WITH seq AS (
       SELECT g, gen_random_uuid() AS intent_id, gen_random_uuid() AS neg_id, gen_random_uuid() AS task_id,
              ($2::text[])[1 + (g % array_length($2::text[], 1))] AS agent
         FROM generate_series(1, $1::int) g
     ), i AS (
       INSERT INTO intents (id, client_did, intent_type, description, budget_atomic, sla_ms, status)
       SELECT intent_id, $4, 'seed', 'seeded', 2000, 10000, 'settled' FROM seq
     ), n AS (
       INSERT INTO negotiations (id, intent_id, client_did, agent_did, state, price_atomic, eta_ms, last_offer_by, expires_at)
       SELECT neg_id, intent_id, $4, agent, 'settled', 1000, 100, 'agent', now() FROM seq
     ), r AS (
       INSERT INTO receipts (task_id, negotiation_id, intent_id, client_did, agent_did, price_atomic, budget_atomic, sla_ms,
                             latency_ms, committee, committee_weights, k, m, selection_seed, created_at)
       SELECT task_id, neg_id, intent_id, $4, agent, 1000, 2000, 10000, 5000, $3::text[],
              array_fill(500000, ARRAY[$5::int]), $5, $5, md5(g::text), now() - (($1::int - g) * interval '1 millisecond')
         FROM seq
     )
     INSERT INTO attestations (task_id, signer_did, type, score, confidence)
     SELECT seq.task_id, c, 'AUDIT_PASS', 0.9, 0.8 FROM seq CROSS JOIN unnest($6::text[]) c`,
    [opts.n, opts.providers, opts.committee, client, k, attesters],
  );
}
