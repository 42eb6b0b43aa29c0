-- Search totals by tag (issue 16). SPEC section 5 gives every search page its exact `total`; for a
-- tag filter PostgreSQL counted it from the GIN index of agents.tags, which names the matching
-- rows but cannot tell whether they are visible, so the count read every matching row of the wide
-- agents table (tag=finance over 100,000 agents: 6,250 rows on 4,585 pages, 11 ms, about 116
-- counts/s from 8 clients on 2 cores). This narrow table holds one row per (tag, status, agent):
-- the same count is an index-only scan of its primary key. Triggers keep it equal to agents,
-- whatever writes them (the API, a job, an operator's psql), statement by statement.
CREATE TABLE agent_tags (
  tag text NOT NULL,
  status text NOT NULL,
  agent_uuid uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  PRIMARY KEY (tag, status, agent_uuid)
);
CREATE INDEX agent_tags_agent_idx ON agent_tags (agent_uuid);

INSERT INTO agent_tags (tag, status, agent_uuid)
SELECT DISTINCT t, a.status, a.id FROM agents a, unnest(a.tags) t;

CREATE FUNCTION ainp_agent_tags_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO agent_tags (tag, status, agent_uuid)
  SELECT DISTINCT t, n.status, n.id FROM new_rows n, unnest(n.tags) t;
  RETURN NULL;
END $$;

-- Per row, and only when tags or status changed: a PATCH of a name or the discovery job's bulk
-- rank_base refresh fires nothing here.
CREATE FUNCTION ainp_agent_tags_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM agent_tags WHERE agent_uuid = OLD.id;
  INSERT INTO agent_tags (tag, status, agent_uuid)
  SELECT DISTINCT t, NEW.status, NEW.id FROM unnest(NEW.tags) t;
  RETURN NULL;
END $$;

CREATE TRIGGER agent_tags_insert AFTER INSERT ON agents
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ainp_agent_tags_insert();
CREATE TRIGGER agent_tags_update AFTER UPDATE OF tags, status ON agents FOR EACH ROW
  WHEN ((OLD.tags, OLD.status) IS DISTINCT FROM (NEW.tags, NEW.status))
  EXECUTE FUNCTION ainp_agent_tags_update();
-- A deleted agent's rows go with it (ON DELETE CASCADE).
