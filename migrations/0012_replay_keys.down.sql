DROP TABLE IF EXISTS replay_keys;
