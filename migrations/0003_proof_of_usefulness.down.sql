DROP INDEX IF EXISTS agents_did_active_idx;
DROP TABLE IF EXISTS slashes, stakes, reputations, credit_ledger, attestations, receipts, negotiations, intents;
