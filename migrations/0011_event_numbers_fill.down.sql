DROP INDEX IF EXISTS events_unpublished_seq_idx;
DROP INDEX IF EXISTS events_unnumbered_idx;
DROP INDEX IF EXISTS events_seq_idx;
UPDATE events SET seq = NULL WHERE seq IS NOT NULL;
