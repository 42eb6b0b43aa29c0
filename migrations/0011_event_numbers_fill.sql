-- Numbers for the events already there (see 0010): each keeps its insert id, so a client's
-- last_event_id stays valid; the relay numbers new events after the highest. The UPDATE takes row
-- locks only, so inserts go on meanwhile; each index build holds inserts for its own length.
--
-- Expand only: during a rolling upgrade the previous release's replicas keep running on this
-- schema (they read and publish by insert id, on the index they always used, and never number).
-- Their sockets get insert ids; a client resuming on a new replica with such an id is resumed
-- from that number, and numbers run behind insert ids (rolled-back inserts leave gaps in ids,
-- none in numbers): it may miss the events numbered in between. That lasts as long as the rollout;
-- events_unpublished_idx goes in a later migration, once no release reads by insert id.
UPDATE events SET seq = id WHERE seq IS NULL;
CREATE UNIQUE INDEX events_seq_idx ON events (seq);
-- What the relay numbers next, and what it publishes next (in number order).
CREATE INDEX events_unnumbered_idx ON events (id) WHERE seq IS NULL;
CREATE INDEX events_unpublished_seq_idx ON events (seq) WHERE published_at IS NULL;
