-- The event outbox: written in the same transaction as the change it reports, then published to
-- JetStream with event_id as the message id (so a retry never duplicates). Delivered over
-- WebSocket to its recipients (DIDs and wallet addresses); a client resumes after its last id.
CREATE TABLE events (
  id bigserial PRIMARY KEY,
  event_id uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
  type text NOT NULL,
  recipients text[] NOT NULL,
  payload jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz
);
CREATE INDEX events_unpublished_idx ON events (id) WHERE published_at IS NULL;
CREATE INDEX events_recipients_idx ON events USING gin (recipients);
