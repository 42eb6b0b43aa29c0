DROP TABLE IF EXISTS payments, validation_responses, validation_requests, feedback_responses, feedback,
  feedback_counters, agent_feedback_stats, agents, chain_agent_counters, api_keys;
