-- An event's public id is its position in the stream (`seq`), given by the relay when it picks the
-- event up, not the insert id. Insert ids come from a sequence and can commit out of order: id 10
-- may commit after id 11 has been published. A client that had 11 and resumed with
-- last_event_id=11, or a replica delivering from the database with its cursor at 11, skipped 10
-- for good. The relay numbers the committed, unnumbered events one batch at a time under an
-- advisory lock (in insert-id order, after the last number given), so numbers are given in the
-- order they become visible: whoever has read up to N has seen every event numbered N or below.
ALTER TABLE events ADD COLUMN seq bigint;
-- Events already there keep their id as their number: a client's last_event_id stays valid.
UPDATE events SET seq = id;
CREATE UNIQUE INDEX events_seq_idx ON events (seq);
-- What the relay numbers next, and what it publishes next (in stream order).
CREATE INDEX events_unnumbered_idx ON events (id) WHERE seq IS NULL;
DROP INDEX events_unpublished_idx;
CREATE INDEX events_unpublished_idx ON events (seq) WHERE published_at IS NULL;
