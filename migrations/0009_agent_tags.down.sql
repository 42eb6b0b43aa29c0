DROP TRIGGER IF EXISTS agent_tags_update ON agents;
DROP TRIGGER IF EXISTS agent_tags_insert ON agents;
DROP FUNCTION IF EXISTS ainp_agent_tags_update();
DROP FUNCTION IF EXISTS ainp_agent_tags_insert();
DROP TABLE IF EXISTS agent_tags;
