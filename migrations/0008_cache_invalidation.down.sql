DROP TRIGGER IF EXISTS reputations_cache_invalidate_delete ON reputations;
DROP TRIGGER IF EXISTS reputations_cache_invalidate_update ON reputations;
DROP TRIGGER IF EXISTS reputations_cache_invalidate_insert ON reputations;
DROP FUNCTION IF EXISTS ainp_reputation_cache_invalidate();
DROP TRIGGER IF EXISTS agents_cache_invalidate_delete ON agents;
DROP TRIGGER IF EXISTS agents_cache_invalidate_update ON agents;
DROP FUNCTION IF EXISTS ainp_agent_cache_invalidate();
