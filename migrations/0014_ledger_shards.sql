-- No global hot row (issue 35): the balances of the accounts that many deals credit at once are
-- split into shards.
--
-- Before this migration every settlement updated the one row of `broker`, `validators` and `pool`,
-- and every deposit the one row of `treasury`: each waited for the previous one's commit, so the
-- whole system ran at the rate of one row, however many replicas. The same held, per provider, for
-- the provider's `available` account, which every settlement of its work credits. Now a balance is
-- stored in ledger_balances as one row per (account, shard). The system accounts and every
-- `available:<did>` may have up to SHARDS rows (0 .. SHARDS-1); `escrow:` and `stake:` accounts,
-- which only their own DID's requests touch, have one (0). A credit goes to the shard its transfer
-- id hashes to, so two settlements meet on a shard one time in SHARDS, and then only between their
-- last statement and their commit. A debit of a sharded account that may not go negative (an
-- available balance, or pool in the reward job) locks every shard of the account in shard order and
-- takes the amount from them in that order, so it is refused exactly when the account's total
-- cannot cover it; treasury (which may go negative) is debited on its transfer's shard.
--
-- Why shards and not credits appended and folded later by the job that debits them: with shards
-- every balance is exact at every commit (the books check reads `ledger_accounts` and compares it
-- with the transfers after every test file; ainp_ledger_imbalance_atomic is read at any moment),
-- and no job has to run for a balance to be right. A fold would leave the balances behind their
-- transfers between folds, or need a watermark over transfers that commit out of seq order; and an
-- available balance is debited by the DID's own requests at any time, not by one job.
--
-- `ledger_accounts` becomes a view with the columns it had: one row per account, its balance the
-- sum of its shards. Everything that reads it (the previous release during a rolling update, the
-- metrics, the books check) reads the same thing as before; a write to it is refused as a direct
-- balance write always was. The constraints keep their names (ledger_accounts_non_negative is what
-- the service maps to 409 INSUFFICIENT_FUNDS) and hold per shard, so a sum of shards is never below
-- zero either (treasury excepted).
--
-- Locks: ledger_lock_transfers locks, before a statement's transfers are inserted and in one
-- (account, shard) order, every row they will touch: all shards of each debited account (but
-- treasury) and the one shard each credit lands on. Two transfers never wait for each other unless
-- they touch one row, and never deadlock within one statement.

-- The changes below hold an ACCESS EXCLUSIVE lock on the balances (2.2 s for 2 million accounts
-- measured in review). Behind a long transaction the migration would wait in the lock queue while
-- every money path queued behind it: it gives up after 5 s instead, and the migration Job retries
-- (docs/RUNBOOK.md, the first deployment's order).
SET LOCAL lock_timeout = '5s';

ALTER TABLE ledger_accounts RENAME TO ledger_balances;
ALTER TABLE ledger_balances ADD COLUMN shard smallint NOT NULL DEFAULT 0;
ALTER TABLE ledger_balances DROP CONSTRAINT ledger_accounts_pkey;
ALTER TABLE ledger_balances ADD CONSTRAINT ledger_balances_pkey PRIMARY KEY (account, shard);
ALTER TABLE ledger_balances ADD CONSTRAINT ledger_balances_shard CHECK (
  shard = 0 OR (kind IN ('treasury', 'broker', 'validators', 'pool', 'available') AND shard BETWEEN 0 AND 31)
);

-- The number of shards of a sharded account (fixed: a transfer's shard is a function of its id).
CREATE FUNCTION ledger_shards() RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT 32 $$;

CREATE FUNCTION ledger_is_system(name text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
  SELECT name IN ('treasury', 'broker', 'validators', 'pool')
$$;

-- Whether `name` is split into shards: the system accounts and the available balances.
CREATE FUNCTION ledger_is_sharded(name text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
  SELECT ledger_is_system(name) OR name LIKE 'available:%'
$$;

-- The shard a transfer credits in `name` (or debits, for treasury): a hash of the transfer id in a
-- sharded account, else 0.
CREATE FUNCTION ledger_shard_of(name text, transfer_id text) RETURNS smallint LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN ledger_is_sharded(name) THEN (hashtext(transfer_id) & (ledger_shards() - 1))::smallint
              ELSE 0::smallint END
$$;

INSERT INTO ledger_balances (account, kind, shard)
SELECT k, k, s FROM unnest(ARRAY['treasury', 'broker', 'validators', 'pool']) k, generate_series(1, 31) s
ON CONFLICT DO NOTHING;

-- The row type of ledger_balances gained `shard` (last column): the function that builds a new row
-- says so.
CREATE OR REPLACE FUNCTION ledger_account_row(name text) RETURNS ledger_balances LANGUAGE sql STABLE AS $$
  SELECT name, split_part(name, ':', 1), nullif(substr(name, length(split_part(name, ':', 1)) + 2), ''),
         0::numeric(78, 0), now(), 0::smallint
$$;

CREATE VIEW ledger_accounts AS
  SELECT account, kind, did, sum(balance_atomic)::numeric(78, 0) AS balance_atomic, max(updated_at) AS updated_at
    FROM ledger_balances
   GROUP BY account, kind, did;

CREATE FUNCTION ledger_accounts_read_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger balances change only through ledger_transfers' USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE TRIGGER ledger_accounts_read_only INSTEAD OF INSERT OR UPDATE OR DELETE ON ledger_accounts
  FOR EACH ROW EXECUTE FUNCTION ledger_accounts_read_only();

-- Creates the DID accounts that are missing, locks every shard of them in one order (two
-- transactions that touch the same accounts never deadlock) and returns their balances; a system
-- account is returned with the sum of its shards, unlocked. Same signature and result as before:
-- the previous release calls it. This release calls ledger_lock_transfers, which locks less.
CREATE OR REPLACE FUNCTION ledger_lock(names text[]) RETURNS TABLE (account text, balance_atomic numeric)
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ledger_balances (account, kind, did)
  SELECT (r).account, (r).kind, (r).did
    FROM (SELECT ledger_account_row(n) AS r FROM (SELECT DISTINCT unnest(names) AS n ORDER BY 1) s) x
   WHERE NOT ledger_is_system((r).account)
  ON CONFLICT DO NOTHING;
  PERFORM 1 FROM ledger_balances b
    WHERE b.account = ANY (names) AND NOT ledger_is_system(b.account) ORDER BY b.account, b.shard FOR UPDATE;
  RETURN QUERY SELECT b.account, sum(b.balance_atomic) FROM ledger_balances b
    WHERE b.account = ANY (names) GROUP BY b.account ORDER BY b.account;
END $$;

-- The rows that transfers (ids[i]: debits[i] → credits[i]) touch: the shard each credit lands on,
-- one shard of treasury when it is debited, shard 0 of a debited account of one shard, and for a
-- debited sharded account a NULL shard, which stands for all of its shards.
CREATE FUNCTION ledger_rows_of(ids text[], debits text[], credits text[])
RETURNS TABLE (account text, shard smallint) LANGUAGE sql IMMUTABLE AS $$
  SELECT t.d, CASE WHEN t.d = 'treasury' OR NOT ledger_is_sharded(t.d) THEN ledger_shard_of(t.d, t.id) END
    FROM unnest(ids, debits) AS t (id, d)
  UNION
  SELECT t.c, ledger_shard_of(t.c, t.id) FROM unnest(ids, credits) AS t (id, c)
$$;

-- Locks, in one (account, shard) order, every row that the transfers will touch (ledger_rows_of),
-- after creating at 0 the DID rows that are missing (shard 0 of a debited account: it has at least
-- that one). Returns the balance (sum of its shards) of each debited account, read under those
-- locks.
CREATE FUNCTION ledger_lock_transfers(ids text[], debits text[], credits text[])
RETURNS TABLE (account text, balance_atomic numeric) LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ledger_balances (account, kind, did, shard)
  SELECT (ledger_account_row(w.account)).account, (ledger_account_row(w.account)).kind,
         (ledger_account_row(w.account)).did, w.shard
    FROM (SELECT DISTINCT r.account, coalesce(r.shard, 0::smallint) AS shard
            FROM ledger_rows_of(ids, debits, credits) r
           WHERE NOT ledger_is_system(r.account) ORDER BY 1, 2) w
  ON CONFLICT DO NOTHING;
  PERFORM 1 FROM ledger_balances b JOIN ledger_rows_of(ids, debits, credits) r
      ON r.account = b.account AND (r.shard IS NULL OR r.shard = b.shard)
    ORDER BY b.account, b.shard FOR UPDATE OF b;
  RETURN QUERY SELECT b.account, sum(b.balance_atomic) FROM ledger_balances b
    WHERE b.account = ANY (debits) GROUP BY b.account ORDER BY b.account;
END $$;

-- Adds `delta` to one shard of `name` (creating a DID's account on first use).
CREATE FUNCTION ledger_add_shard(name text, s smallint, delta numeric) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  r ledger_balances;
BEGIN
  UPDATE ledger_balances SET balance_atomic = balance_atomic + delta, updated_at = now()
   WHERE account = name AND shard = s;
  IF NOT FOUND THEN
    r := ledger_account_row(name);
    INSERT INTO ledger_balances (account, kind, did, shard) VALUES (r.account, r.kind, r.did, s) ON CONFLICT DO NOTHING;
    UPDATE ledger_balances SET balance_atomic = balance_atomic + delta, updated_at = now()
     WHERE account = name AND shard = s;
  END IF;
END $$;

-- Takes `amount` out of `name`. An account of one shard, or treasury (which may go negative), loses
-- it from the transfer's shard. Another sharded account locks all its shards in order and empties
-- them in that order; what they cannot cover is taken from the last one, whose CHECK then refuses
-- it.
CREATE FUNCTION ledger_take(name text, amount numeric, transfer_id text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  left_over numeric := amount;
  b record;
  last smallint;
BEGIN
  IF NOT ledger_is_sharded(name) OR name = 'treasury' THEN
    PERFORM ledger_add_shard(name, ledger_shard_of(name, transfer_id), -amount);
    RETURN;
  END IF;
  FOR b IN SELECT shard, balance_atomic FROM ledger_balances WHERE account = name ORDER BY shard FOR UPDATE LOOP
    last := b.shard;
    IF left_over > 0 AND b.balance_atomic > 0 THEN
      PERFORM ledger_add_shard(name, b.shard, -least(left_over, b.balance_atomic));
      left_over := left_over - least(left_over, b.balance_atomic);
    END IF;
  END LOOP;
  IF left_over > 0 THEN
    PERFORM ledger_add_shard(name, coalesce(last, 0::smallint), -left_over);
  END IF;
END $$;

CREATE OR REPLACE FUNCTION ledger_apply_transfer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ledger_take(NEW.debit_account, NEW.amount_atomic, NEW.id);
  PERFORM ledger_add_shard(NEW.credit_account, ledger_shard_of(NEW.credit_account, NEW.id), NEW.amount_atomic);
  RETURN NULL;
END $$;

-- The previous release's ledger_add, kept working on the new table (shard 0) for anything that
-- still calls it.
CREATE OR REPLACE FUNCTION ledger_add(name text, delta numeric) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ledger_add_shard(name, 0::smallint, delta);
END $$;
