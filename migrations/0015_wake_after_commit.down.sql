-- Back to migration 0008's triggers, which always NOTIFY.
CREATE OR REPLACE FUNCTION ainp_agent_cache_invalidate() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE OR REPLACE FUNCTION ainp_reputation_cache_invalidate() RETURNS trigger LANGUAGE plpgsql AS $$
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
