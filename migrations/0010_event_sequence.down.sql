DROP INDEX IF EXISTS events_unpublished_idx;
CREATE INDEX events_unpublished_idx ON events (id) WHERE published_at IS NULL;
DROP INDEX IF EXISTS events_unnumbered_idx;
DROP INDEX IF EXISTS events_seq_idx;
ALTER TABLE events DROP COLUMN IF EXISTS seq;
