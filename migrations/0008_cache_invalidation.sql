-- In-process read caches (issue 16): each broker process keeps hot reads (an agent's record, a
-- DID's seven-dimension reputation) in memory. Every change to such a value writes a
-- `cache.invalidate` event into the outbox in the same transaction, whoever made the change (the
-- API, a job, a later migration, an operator's psql), so no write path can forget it. The relay
-- delivers it to every broker process (through NATS, or from the database while NATS is down),
-- and each drops the values it names. The events have no recipients: no socket receives them.

-- An agent's cached record changes with any of its public columns; rank_base (refreshed in bulk by
-- the discovery job) and search_vector are not part of it and fire nothing.
CREATE FUNCTION ainp_agent_cache_invalidate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO events (type, recipients, payload)
  VALUES ('cache.invalidate', '{}', jsonb_build_object('keys', to_jsonb(array_remove(ARRAY[
    'agent:' || OLD.id::text,
    'rep:' || OLD.did,
    CASE WHEN TG_OP = 'UPDATE' AND NEW.did IS DISTINCT FROM OLD.did THEN 'rep:' || NEW.did END
  ], NULL))));
  PERFORM pg_notify('ainp_events', '');
  RETURN NULL;
END $$;

CREATE TRIGGER agents_cache_invalidate_update AFTER UPDATE ON agents FOR EACH ROW
  WHEN ((OLD.owner_address, OLD.name, OLD.description, OLD.did, OLD.image, OLD.services,
         OLD.x402_support, OLD.supported_trust, OLD.metadata, OLD.tags, OLD.status, OLD.updated_at,
         OLD.chain_id, OLD.agent_id)
        IS DISTINCT FROM
        (NEW.owner_address, NEW.name, NEW.description, NEW.did, NEW.image, NEW.services,
         NEW.x402_support, NEW.supported_trust, NEW.metadata, NEW.tags, NEW.status, NEW.updated_at,
         NEW.chain_id, NEW.agent_id))
  EXECUTE FUNCTION ainp_agent_cache_invalidate();
CREATE TRIGGER agents_cache_invalidate_delete AFTER DELETE ON agents FOR EACH ROW
  EXECUTE FUNCTION ainp_agent_cache_invalidate();

-- Reputations change a batch at a time (the finalizer, a slash): one event per statement. A
-- statement over more than 1,000 rows (a bulk load, an operator's mass update) sends {"all": true}
-- instead of its keys: an event stays small enough for NATS (1 MB by default) whatever the change.
CREATE FUNCTION ainp_reputation_cache_invalidate() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  keys jsonb;
  n bigint;
BEGIN
  IF TG_OP = 'DELETE' THEN
    SELECT count(*), jsonb_agg('rep:' || did) INTO n, keys FROM (SELECT did FROM old_rows LIMIT 1001) r;
  ELSE
    SELECT count(*), jsonb_agg('rep:' || did) INTO n, keys FROM (SELECT did FROM new_rows LIMIT 1001) r;
  END IF;
  IF n > 0 THEN
    INSERT INTO events (type, recipients, payload)
    VALUES ('cache.invalidate', '{}',
            CASE WHEN n > 1000 THEN '{"all": true}'::jsonb ELSE jsonb_build_object('keys', keys) END);
    PERFORM pg_notify('ainp_events', '');
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER reputations_cache_invalidate_insert AFTER INSERT ON reputations
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ainp_reputation_cache_invalidate();
CREATE TRIGGER reputations_cache_invalidate_update AFTER UPDATE ON reputations
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ainp_reputation_cache_invalidate();
CREATE TRIGGER reputations_cache_invalidate_delete AFTER DELETE ON reputations
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION ainp_reputation_cache_invalidate();
