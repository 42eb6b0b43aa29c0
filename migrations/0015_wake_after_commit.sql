-- The cache-invalidation triggers of migration 0008 NOTIFY the relays from inside the writing
-- transaction. A NOTIFY takes one database-wide lock at commit and holds it until the transaction
-- ends, WAL flush included, so every finalization (which updates a reputation row, and fires the
-- trigger) waited for the previous one's commit (issue 35, `Lock:object` at COMMIT in bench:flow's
-- wait sample). A transaction of the broker that wakes the relays itself after its commit (see
-- wakeRelays in app/data/event-repository.ts) says so with `SET LOCAL ainp.wake_after_commit = on`;
-- then the trigger writes its event and sends no NOTIFY. Every other writer (a job, an operator's
-- psql, the previous release) still NOTIFYs as before.

CREATE OR REPLACE FUNCTION ainp_agent_cache_invalidate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO events (type, recipients, payload)
  VALUES ('cache.invalidate', '{}', jsonb_build_object('keys', to_jsonb(array_remove(ARRAY[
    'agent:' || OLD.id::text,
    'rep:' || OLD.did,
    CASE WHEN TG_OP = 'UPDATE' AND NEW.did IS DISTINCT FROM OLD.did THEN 'rep:' || NEW.did END
  ], NULL))));
  IF current_setting('ainp.wake_after_commit', true) IS DISTINCT FROM 'on' THEN
    PERFORM pg_notify('ainp_events', '');
  END IF;
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
    IF current_setting('ainp.wake_after_commit', true) IS DISTINCT FROM 'on' THEN
      PERFORM pg_notify('ainp_events', '');
    END IF;
  END IF;
  RETURN NULL;
END $$;
