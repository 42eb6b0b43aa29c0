-- Folds every shard of a system account back into one row and restores the single-row ledger of
-- migration 0007.
DROP VIEW IF EXISTS ledger_accounts;
DROP FUNCTION IF EXISTS ledger_accounts_read_only();

INSERT INTO ledger_balances (account, kind, did, shard)
SELECT DISTINCT account, kind, did, 0::smallint FROM ledger_balances ON CONFLICT DO NOTHING;
ALTER TABLE ledger_balances DISABLE TRIGGER ledger_balance_guard;
UPDATE ledger_balances b SET balance_atomic = s.total
  FROM (SELECT account, sum(balance_atomic) AS total FROM ledger_balances GROUP BY account) s
 WHERE b.account = s.account AND b.shard = 0;
DELETE FROM ledger_balances WHERE shard <> 0;
ALTER TABLE ledger_balances ENABLE TRIGGER ledger_balance_guard;

CREATE OR REPLACE FUNCTION ledger_apply_transfer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ledger_add(NEW.debit_account, -NEW.amount_atomic);
  PERFORM ledger_add(NEW.credit_account, NEW.amount_atomic);
  RETURN NULL;
END $$;
DROP FUNCTION IF EXISTS ledger_take(text, numeric, text);
DROP FUNCTION IF EXISTS ledger_lock_transfers(text[], text[], text[]);
DROP FUNCTION IF EXISTS ledger_rows_of(text[], text[], text[]);
DROP FUNCTION IF EXISTS ledger_add(text, numeric);
DROP FUNCTION IF EXISTS ledger_add_shard(text, smallint, numeric);
DROP FUNCTION IF EXISTS ledger_lock(text[]);
DROP FUNCTION IF EXISTS ledger_account_row(text);

ALTER TABLE ledger_balances DROP CONSTRAINT ledger_balances_shard;
ALTER TABLE ledger_balances DROP CONSTRAINT ledger_balances_pkey;
ALTER TABLE ledger_balances DROP COLUMN shard;
ALTER TABLE ledger_balances ADD CONSTRAINT ledger_accounts_pkey PRIMARY KEY (account);
ALTER TABLE ledger_balances RENAME TO ledger_accounts;
DROP FUNCTION IF EXISTS ledger_shard_of(text, text);
DROP FUNCTION IF EXISTS ledger_is_sharded(text);
DROP FUNCTION IF EXISTS ledger_is_system(text);
DROP FUNCTION IF EXISTS ledger_shards();

CREATE FUNCTION ledger_account_row(name text) RETURNS ledger_accounts LANGUAGE sql STABLE AS $$
  SELECT name, split_part(name, ':', 1), nullif(substr(name, length(split_part(name, ':', 1)) + 2), ''),
         0::numeric(78, 0), now()
$$;

CREATE FUNCTION ledger_lock(names text[]) RETURNS TABLE (account text, balance_atomic numeric)
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ledger_accounts (account, kind, did)
  SELECT (ledger_account_row(n)).account, (ledger_account_row(n)).kind, (ledger_account_row(n)).did
    FROM (SELECT DISTINCT unnest(names) AS n ORDER BY 1) s
  ON CONFLICT DO NOTHING;
  RETURN QUERY SELECT a.account, a.balance_atomic FROM ledger_accounts a
    WHERE a.account = ANY (names) ORDER BY a.account FOR UPDATE;
END $$;

CREATE FUNCTION ledger_add(name text, delta numeric) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  r ledger_accounts;
BEGIN
  UPDATE ledger_accounts SET balance_atomic = balance_atomic + delta, updated_at = now() WHERE account = name;
  IF NOT FOUND THEN
    r := ledger_account_row(name);
    INSERT INTO ledger_accounts (account, kind, did) VALUES (r.account, r.kind, r.did) ON CONFLICT DO NOTHING;
    UPDATE ledger_accounts SET balance_atomic = balance_atomic + delta, updated_at = now() WHERE account = name;
  END IF;
END $$;
