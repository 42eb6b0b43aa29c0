DROP TABLE IF EXISTS event_stream;
DROP INDEX IF EXISTS events_unnumbered_idx;
DROP INDEX IF EXISTS events_seq_idx;
UPDATE events SET seq = NULL WHERE seq IS NOT NULL;
