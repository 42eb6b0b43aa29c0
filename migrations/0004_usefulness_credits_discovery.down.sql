DROP INDEX IF EXISTS agents_discovery_idx;
ALTER TABLE agents DROP COLUMN IF EXISTS discovery_vector;
DROP INDEX IF EXISTS credit_ledger_reward_once_idx;
ALTER TABLE credit_ledger DROP COLUMN IF EXISTS window_start;
DROP TABLE IF EXISTS credit_windows, agent_usefulness, usefulness_proofs;
