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
-- What the relay numbers next.
CREATE INDEX events_unnumbered_idx ON events (id) WHERE seq IS NULL;

-- What has gone to JetStream: every number up to published_upto. Events are published in number
-- order, one publisher at a time, so a cursor says it; marking each row (events.published_at) was
-- a second update of every event beside its numbering, and neither can be HOT (both columns are in
-- indexes). With the cursor an event is updated once, as before it had a number (measured in a
-- bench run of signed attestations, each writing an event: 0.97-1.00 updates of events per
-- attestation, 0.96 before numbers). This release no longer reads published_at: it sets it when
-- it numbers an event, for the previous release during a rollout, which publishes only events
-- without it (the ones not yet numbered; this release publishes them again with their numbers,
-- and JetStream's duplicate window and the sockets' seen-sets drop the copies). The cursor starts
-- below the first event still unpublished.
CREATE TABLE event_stream (
  one boolean PRIMARY KEY DEFAULT true CHECK (one),
  published_upto bigint NOT NULL CHECK (published_upto >= 0)
);
INSERT INTO event_stream (published_upto)
SELECT coalesce((SELECT min(seq) - 1 FROM events WHERE published_at IS NULL), (SELECT max(seq) FROM events), 0);
