-- The double-entry ledger of SPEC section 10 (expand step).
--
-- Every movement of money is one row of ledger_transfers: an id (the idempotency key), the account
-- it leaves (debit_account, whose balance goes down), the account it enters (credit_account, whose
-- balance goes up), a positive integer amount, a kind and a reference. Rows are never updated or
-- deleted. Balances live in ledger_accounts and change only inside the trigger that applies a
-- transfer, in the same transaction as its insert; a balance below zero fails the insert through a
-- CHECK constraint, so no code path can overdraw an account. Only `treasury` may go negative: it is
-- where money enters the system, so the sum of all balances is always 0.
--
-- Accounts: `treasury`, `broker`, `validators`, `pool` (system), and per DID `available:<did>`,
-- `escrow:<did>`, `stake:<did>`. An account row is created the first time a transfer touches it.
--
-- Expand/contract: the previous release still writes credit_ledger (settlement shares and rewards,
-- minted from nothing) and stakes.locked_atomic. Today's entries are carried over below as transfers
-- from treasury, and a trigger carries any entry the previous release writes during a rolling
-- update. credit_ledger and that trigger are dropped by a later (contract) migration, once no
-- release that writes credit_ledger can run.

CREATE TABLE ledger_accounts (
  account text PRIMARY KEY,
  kind text NOT NULL,
  did text,
  balance_atomic numeric(78, 0) NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ledger_accounts_name CHECK (
    (kind IN ('treasury', 'broker', 'validators', 'pool') AND did IS NULL AND account = kind)
    OR (kind IN ('available', 'escrow', 'stake') AND did IS NOT NULL AND account = kind || ':' || did)
  ),
  CONSTRAINT ledger_accounts_non_negative CHECK (balance_atomic >= 0 OR kind = 'treasury')
);

CREATE TABLE ledger_transfers (
  seq bigserial NOT NULL UNIQUE,
  id text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 400),
  debit_account text NOT NULL,
  credit_account text NOT NULL,
  amount_atomic numeric(78, 0) NOT NULL CHECK (amount_atomic > 0),
  kind text NOT NULL,
  reference text,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK (debit_account <> credit_account)
);
CREATE INDEX ledger_transfers_debit_idx ON ledger_transfers (debit_account, seq DESC);
CREATE INDEX ledger_transfers_credit_idx ON ledger_transfers (credit_account, seq DESC);

-- `available:did:key:z…` → ('available', 'did:key:z…'); `pool` → ('pool', NULL).
CREATE FUNCTION ledger_account_row(name text) RETURNS ledger_accounts LANGUAGE sql STABLE AS $$
  SELECT name, split_part(name, ':', 1), nullif(substr(name, length(split_part(name, ':', 1)) + 2), ''),
         0::numeric(78, 0), now()
$$;

-- Creates the accounts that are missing, then locks all of them in one order (so two transactions
-- that touch the same accounts never deadlock), and returns their balances.
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

-- Applies a transfer to both balances (creating an account on first use). Runs only for rows that
-- were inserted: a repeated id (ON CONFLICT DO NOTHING) changes nothing. (An upsert would not do:
-- PostgreSQL checks the CHECK constraint on the proposed row before it sees the conflict.)
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

CREATE FUNCTION ledger_apply_transfer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ledger_add(NEW.debit_account, -NEW.amount_atomic);
  PERFORM ledger_add(NEW.credit_account, NEW.amount_atomic);
  RETURN NULL;
END $$;
CREATE TRIGGER ledger_apply_transfer AFTER INSERT ON ledger_transfers
  FOR EACH ROW EXECUTE FUNCTION ledger_apply_transfer();

CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger_transfers is append-only: % refused', TG_OP USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger_transfers
  FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

-- A balance changes only through a transfer (the trigger above runs at depth 2); a direct write of
-- a balance is refused.
CREATE FUNCTION ledger_balance_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF pg_trigger_depth() < 2 THEN
    IF TG_OP = 'DELETE' OR (TG_OP = 'INSERT' AND NEW.balance_atomic <> 0)
       OR (TG_OP = 'UPDATE' AND NEW.balance_atomic <> OLD.balance_atomic) THEN
      RAISE EXCEPTION 'ledger balances change only through ledger_transfers' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER ledger_balance_guard BEFORE INSERT OR UPDATE OR DELETE ON ledger_accounts
  FOR EACH ROW EXECUTE FUNCTION ledger_balance_guard();

INSERT INTO ledger_accounts (account, kind) VALUES
  ('treasury', 'treasury'), ('broker', 'broker'), ('validators', 'validators'), ('pool', 'pool');

-- Intents escrow their budget; they end settled, expired or cancelled (which releases the escrow).
-- Intents opened by the previous release were never escrowed (escrowed = false): settling one takes
-- the price from the client's available balance instead.
ALTER TABLE intents ADD COLUMN escrowed boolean NOT NULL DEFAULT false;
ALTER TABLE intents ADD COLUMN expires_at timestamptz;
ALTER TABLE intents DROP CONSTRAINT intents_status_check;
ALTER TABLE intents ADD CONSTRAINT intents_status_check CHECK (status IN ('open', 'settled', 'expired', 'cancelled'));
CREATE INDEX intents_open_expiry_idx ON intents (expires_at, id) WHERE status = 'open';

-- A usefulness proof names a finalized receipt of its prover, one proof per receipt. Proofs from
-- before this release have no such tie (receipt_bound = false) and keep counting.
ALTER TABLE usefulness_proofs ADD COLUMN receipt_bound boolean NOT NULL DEFAULT false;
CREATE UNIQUE INDEX usefulness_proofs_one_per_receipt_idx ON usefulness_proofs (task_id) WHERE receipt_bound;

-- Carry today's entries over. Settlement shares and rewards were minted from nothing, so each comes
-- from treasury; so does the stake the previous release recorded without funds, and the reward
-- remainder carried into the next window (paid later out of the pool).
CREATE FUNCTION ledger_legacy_entry() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.amount_atomic > 0 AND (NEW.account <> 'agent' OR NEW.did IS NOT NULL) THEN
    INSERT INTO ledger_transfers (id, debit_account, credit_account, amount_atomic, kind, reference, created_at)
    VALUES ('legacy:' || NEW.id, 'treasury',
            CASE NEW.account WHEN 'agent' THEN 'available:' || NEW.did ELSE NEW.account END,
            NEW.amount_atomic, 'legacy_' || NEW.kind,
            coalesce(NEW.task_id::text, NEW.window_start::text), NEW.created_at)
    ON CONFLICT (id) DO NOTHING;
  END IF;
  RETURN NULL;
END $$;

INSERT INTO ledger_transfers (id, debit_account, credit_account, amount_atomic, kind, reference, created_at)
SELECT 'legacy:' || id, 'treasury', CASE account WHEN 'agent' THEN 'available:' || did ELSE account END,
       amount_atomic, 'legacy_' || kind, coalesce(task_id::text, window_start::text), created_at
  FROM credit_ledger
 WHERE amount_atomic > 0 AND (account <> 'agent' OR did IS NOT NULL)
 ORDER BY id;

INSERT INTO ledger_transfers (id, debit_account, credit_account, amount_atomic, kind, reference)
SELECT 'legacy-stake:' || did, 'treasury', 'stake:' || did, locked_atomic, 'legacy_stake', did
  FROM stakes WHERE locked_atomic > 0 ORDER BY did;

INSERT INTO ledger_transfers (id, debit_account, credit_account, amount_atomic, kind, reference)
SELECT 'legacy-carry:' || window_start::text, 'treasury', 'pool', carried_out_atomic, 'legacy_carry', window_start::text
  FROM credit_windows WHERE carried_out_atomic > 0 ORDER BY window_start DESC LIMIT 1;

CREATE TRIGGER ledger_legacy_entry AFTER INSERT ON credit_ledger
  FOR EACH ROW EXECUTE FUNCTION ledger_legacy_entry();
