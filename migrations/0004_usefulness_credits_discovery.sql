-- Usefulness proofs and their 30-day aggregate, hourly credit windows (each paid once), and the
-- discovery text index (name, description, tags and service skills).

CREATE TABLE usefulness_proofs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  agent_did text NOT NULL,
  trace_id text NOT NULL UNIQUE,
  task_id uuid,
  compute_ms integer NOT NULL CHECK (compute_ms >= 0),
  memory_mb integer NOT NULL CHECK (memory_mb >= 0),
  hops integer NOT NULL CHECK (hops >= 0),
  checks integer NOT NULL CHECK (checks >= 0),
  samples integer NOT NULL CHECK (samples >= 0),
  score double precision NOT NULL CHECK (score BETWEEN 0 AND 100),
  flagged boolean NOT NULL DEFAULT false,
  flag_reason text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usefulness_proofs_agent_created_idx ON usefulness_proofs (agent_did, created_at DESC);
CREATE INDEX usefulness_proofs_created_idx ON usefulness_proofs (created_at);

CREATE TABLE agent_usefulness (
  did text PRIMARY KEY,
  score double precision NOT NULL CHECK (score BETWEEN 0 AND 100),
  proofs integer NOT NULL,
  computed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_usefulness_score_idx ON agent_usefulness (score);

-- One row per paid hour window: the claim that makes a window pay exactly once.
CREATE TABLE credit_windows (
  window_start timestamptz PRIMARY KEY,
  pool_atomic numeric(78, 0) NOT NULL,
  carried_in_atomic numeric(78, 0) NOT NULL,
  distributed_atomic numeric(78, 0) NOT NULL,
  carried_out_atomic numeric(78, 0) NOT NULL,
  recipients integer NOT NULL,
  paid_at timestamptz NOT NULL DEFAULT now(),
  CHECK (distributed_atomic + carried_out_atomic = pool_atomic + carried_in_atomic)
);

ALTER TABLE credit_ledger ADD COLUMN window_start timestamptz;
CREATE UNIQUE INDEX credit_ledger_reward_once_idx ON credit_ledger (window_start, did) WHERE kind = 'reward';

-- Skills live in the services JSON; this flattens them into the discovery vector.
ALTER TABLE agents ADD COLUMN discovery_vector tsvector GENERATED ALWAYS AS (
  setweight(to_tsvector('english', name), 'A') ||
  setweight(array_to_tsvector(tags), 'A') ||
  setweight(to_tsvector('english', translate(jsonb_path_query_array(services, '$[*].skills[*]')::text, '[]",', '    ')), 'B') ||
  setweight(to_tsvector('english', description), 'C')
) STORED;
CREATE INDEX agents_discovery_idx ON agents USING gin (discovery_vector);
