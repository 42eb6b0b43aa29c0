-- Durable replay keys (SPEC section 10, v3). A signed write's replay key (sha256 of the DID and the
-- signed message) is recorded here before the write runs, so a captured request is refused on any
-- replica, with Valkey down and after a restart. Before, the only record was Valkey, with a
-- per-process map standing in while Valkey was down: a replay sent during an outage moved money.
-- A key is kept for twice the signature window (a request older than the window is refused as
-- stale anyway); expired keys are swept a bounded number at a time by the statement that records
-- new ones.
CREATE TABLE replay_keys (
  key bytea PRIMARY KEY,
  expires_at timestamptz NOT NULL
);
CREATE INDEX replay_keys_expires_idx ON replay_keys (expires_at);
