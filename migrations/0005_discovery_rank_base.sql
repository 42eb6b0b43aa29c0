-- Discovery: each agent's trust-and-usefulness part of the score, kept current by the writes that
-- change trust or usefulness, so a page of results reads an index instead of ranking every match.
-- Backfilled with the default weights (0.3 trust, 0.1 usefulness); the aggregator recomputes it
-- with the configured weights every run.
ALTER TABLE agents ADD COLUMN rank_base double precision NOT NULL DEFAULT 0.15;
UPDATE agents a SET rank_base = 0.3 * coalesce(p.trust_score, 0.5) + 0.1 * coalesce(u.score, 0) / 100
  FROM agents x
  LEFT JOIN reputations p ON p.did = x.did
  LEFT JOIN agent_usefulness u ON u.did = x.did
 WHERE x.id = a.id;
CREATE INDEX agents_rank_base_idx ON agents (rank_base DESC, id) WHERE status = 'active';
