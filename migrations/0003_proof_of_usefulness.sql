-- Proof of usefulness: intents, negotiations, task receipts with their committee, attestations,
-- the credit ledger, seven-dimension reputations, stakes and slashes. Money is numeric(78,0).

CREATE TABLE intents (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  client_did text NOT NULL,
  intent_type text NOT NULL,
  description text NOT NULL,
  budget_atomic numeric(78, 0) NOT NULL CHECK (budget_atomic >= 0),
  sla_ms integer CHECK (sla_ms > 0),
  inputs_ref text,
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'settled')),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX intents_client_idx ON intents (client_did, created_at DESC);

CREATE TABLE negotiations (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  intent_id uuid NOT NULL REFERENCES intents (id),
  client_did text NOT NULL,
  agent_did text NOT NULL,
  state text NOT NULL CHECK (state IN ('proposed', 'accepted', 'rejected', 'settled', 'expired')),
  price_atomic numeric(78, 0) NOT NULL CHECK (price_atomic >= 0),
  eta_ms integer NOT NULL CHECK (eta_ms > 0),
  last_offer_by text NOT NULL CHECK (last_offer_by IN ('client', 'agent')),
  offers jsonb NOT NULL DEFAULT '[]'::jsonb,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX negotiations_intent_idx ON negotiations (intent_id);
CREATE INDEX negotiations_open_expiry_idx ON negotiations (expires_at) WHERE state IN ('proposed', 'accepted');

CREATE TABLE receipts (
  task_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  negotiation_id uuid NOT NULL UNIQUE REFERENCES negotiations (id),
  intent_id uuid NOT NULL REFERENCES intents (id),
  client_did text NOT NULL,
  agent_did text NOT NULL,
  price_atomic numeric(78, 0) NOT NULL,
  budget_atomic numeric(78, 0) NOT NULL,
  sla_ms integer,
  latency_ms integer,
  outputs_ref text,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'finalized', 'failed', 'disputed', 'expired')),
  committee text[] NOT NULL,
  committee_weights integer[] NOT NULL,
  k integer NOT NULL CHECK (k >= 0),
  m integer NOT NULL CHECK (m >= 0),
  selection_seed text NOT NULL,
  committee_shortfall boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  finalized_at timestamptz
);
CREATE INDEX receipts_pending_idx ON receipts (created_at, task_id) WHERE status = 'pending';
CREATE INDEX receipts_agent_idx ON receipts (agent_did, status);

CREATE TABLE attestations (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  task_id uuid NOT NULL REFERENCES receipts (task_id),
  signer_did text NOT NULL,
  type text NOT NULL CHECK (type IN ('ACCEPTED', 'REJECTED', 'AUDIT_PASS', 'AUDIT_FAIL', 'SAFETY_PASS', 'SAFETY_FAIL')),
  score double precision NOT NULL CHECK (score BETWEEN 0 AND 1),
  confidence double precision NOT NULL CHECK (confidence BETWEEN 0 AND 1),
  evidence_ref text,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (task_id, signer_did, type)
);
CREATE INDEX attestations_task_created_idx ON attestations (task_id, created_at, id);

-- Every credit movement is a ledger row; balances are sums. account: agent | broker | validators | pool.
CREATE TABLE credit_ledger (
  id bigserial PRIMARY KEY,
  account text NOT NULL CHECK (account IN ('agent', 'broker', 'validators', 'pool')),
  did text,
  kind text NOT NULL,
  amount_atomic numeric(78, 0) NOT NULL,
  task_id uuid REFERENCES receipts (task_id),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX credit_ledger_did_idx ON credit_ledger (did, id DESC) WHERE did IS NOT NULL;
CREATE INDEX credit_ledger_task_idx ON credit_ledger (task_id);

CREATE TABLE reputations (
  did text PRIMARY KEY,
  q double precision NOT NULL DEFAULT 0.5,
  t double precision NOT NULL DEFAULT 0.5,
  r double precision NOT NULL DEFAULT 0.5,
  s double precision NOT NULL DEFAULT 0.5,
  v double precision NOT NULL DEFAULT 0.5,
  i double precision NOT NULL DEFAULT 0.5,
  e double precision NOT NULL DEFAULT 0.5,
  trust_score double precision NOT NULL DEFAULT 0.5,
  tasks_finalized integer NOT NULL DEFAULT 0,
  updates integer NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE stakes (
  did text PRIMARY KEY,
  locked_atomic numeric(78, 0) NOT NULL DEFAULT 0 CHECK (locked_atomic >= 0),
  unlock_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE slashes (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  did text NOT NULL,
  amount_atomic numeric(78, 0) NOT NULL,
  applied_atomic numeric(78, 0) NOT NULL,
  reason text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX slashes_did_idx ON slashes (did, created_at DESC);

-- Committee eligibility reads active agents by DID.
CREATE INDEX agents_did_active_idx ON agents (did) WHERE did IS NOT NULL AND status = 'active';
