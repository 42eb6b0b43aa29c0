DROP INDEX IF EXISTS agents_rank_base_idx;
ALTER TABLE agents DROP COLUMN IF EXISTS rank_base;
