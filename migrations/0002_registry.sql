-- The ERC-8004 registry mirror: API keys, agents (identity), feedback (reputation), validation,
-- payments. Every lookup the API does has an index; money is numeric.

CREATE TABLE api_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  address text NOT NULL CHECK (address ~ '^0x[0-9a-f]{40}$'),
  prefix text NOT NULL,
  key_hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
CREATE INDEX api_keys_created_idx ON api_keys (created_at DESC);

-- agent_id is per chain and increasing from 1: the counter row serialises concurrent registrations.
CREATE TABLE chain_agent_counters (
  chain_id bigint PRIMARY KEY,
  last_agent_id bigint NOT NULL
);

CREATE TABLE agents (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  chain_id bigint NOT NULL CHECK (chain_id > 0),
  agent_id bigint NOT NULL,
  owner_address text NOT NULL CHECK (owner_address ~ '^0x[0-9a-f]{40}$'),
  name text NOT NULL,
  description text NOT NULL,
  did text UNIQUE,
  image text,
  services jsonb NOT NULL DEFAULT '[]'::jsonb,
  x402_support boolean NOT NULL DEFAULT false,
  supported_trust text[] NOT NULL DEFAULT '{}',
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  tags text[] NOT NULL DEFAULT '{}',
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
  search_vector tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', name), 'A') ||
    setweight(array_to_tsvector(tags), 'A') ||
    setweight(to_tsvector('english', description), 'B')
  ) STORED,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (chain_id, agent_id)
);
CREATE INDEX agents_status_created_idx ON agents (status, created_at DESC, id);
CREATE INDEX agents_owner_idx ON agents (owner_address, created_at DESC);
CREATE INDEX agents_tags_idx ON agents USING gin (tags);
CREATE INDEX agents_search_idx ON agents USING gin (search_vector);

-- Feedback aggregates per agent, kept in the same transaction as each feedback write, so search
-- can filter on reputation without scanning feedback.
CREATE TABLE agent_feedback_stats (
  agent_uuid uuid PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
  total integer NOT NULL DEFAULT 0,
  revoked integer NOT NULL DEFAULT 0,
  positive integer NOT NULL DEFAULT 0,
  negative integer NOT NULL DEFAULT 0,
  score_sum numeric NOT NULL DEFAULT 0,
  last_feedback_at timestamptz
);
CREATE INDEX agent_feedback_stats_avg_idx ON agent_feedback_stats ((score_sum / NULLIF(total, 0)));

CREATE TABLE feedback_counters (
  agent_uuid uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  client_address text NOT NULL,
  last_index integer NOT NULL,
  PRIMARY KEY (agent_uuid, client_address)
);

CREATE TABLE feedback (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  agent_uuid uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  client_address text NOT NULL CHECK (client_address ~ '^0x[0-9a-f]{40}$'),
  feedback_index integer NOT NULL CHECK (feedback_index >= 1),
  value numeric(40, 0) NOT NULL,
  value_decimals smallint NOT NULL CHECK (value_decimals BETWEEN 0 AND 18),
  score numeric NOT NULL,
  tag1 text CHECK (char_length(tag1) <= 64),
  tag2 text CHECK (char_length(tag2) <= 64),
  endpoint text,
  feedback_uri text,
  feedback_hash text,
  proof_of_payment jsonb,
  revoked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (agent_uuid, client_address, feedback_index)
);
CREATE INDEX feedback_agent_created_idx ON feedback (agent_uuid, created_at DESC);

CREATE TABLE feedback_responses (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  feedback_id uuid NOT NULL REFERENCES feedback (id) ON DELETE CASCADE,
  responder_address text NOT NULL,
  response_uri text NOT NULL,
  response_hash text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX feedback_responses_feedback_idx ON feedback_responses (feedback_id, created_at);

CREATE TABLE validation_requests (
  request_hash text PRIMARY KEY,
  agent_uuid uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  validator_address text NOT NULL CHECK (validator_address ~ '^0x[0-9a-f]{40}$'),
  request_uri text NOT NULL,
  requester_address text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX validation_requests_agent_idx ON validation_requests (agent_uuid, validator_address);

CREATE TABLE validation_responses (
  id bigserial PRIMARY KEY,
  request_hash text NOT NULL REFERENCES validation_requests (request_hash) ON DELETE CASCADE,
  response smallint NOT NULL CHECK (response BETWEEN 0 AND 100),
  response_uri text,
  tag text CHECK (char_length(tag) <= 64),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX validation_responses_request_idx ON validation_responses (request_hash, id DESC);

CREATE TABLE payments (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  agent_uuid uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  chain_id bigint NOT NULL CHECK (chain_id > 0),
  tx_hash text NOT NULL,
  amount_atomic numeric(78, 0) NOT NULL CHECK (amount_atomic >= 0),
  asset text,
  from_address text,
  to_address text,
  linked_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (chain_id, tx_hash)
);
CREATE INDEX payments_agent_idx ON payments (agent_uuid);
