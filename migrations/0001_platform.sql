-- Platform tables: a record of every periodic job run, so metrics and alerts can see a stale job.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE job_runs (
  id bigserial PRIMARY KEY,
  job text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  outcome text NOT NULL DEFAULT 'running' CHECK (outcome IN ('running', 'success', 'failure')),
  counts jsonb NOT NULL DEFAULT '{}'::jsonb,
  error text
);

CREATE INDEX job_runs_job_started_idx ON job_runs (job, started_at DESC);
CREATE INDEX job_runs_job_success_idx ON job_runs (job, finished_at DESC) WHERE outcome = 'success';
