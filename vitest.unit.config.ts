import { defineConfig } from 'vitest/config';

/**
 * `npm run test:unit`: the suites that need no PostgreSQL, Valkey, NATS, built tool or child
 * process (pure rules, config parsing, the chart-free infra decisions), in seconds. `npm test` runs
 * these and every other suite.
 */
export default defineConfig({
  test: {
    include: [
      'test/pou-domain.test.ts',
      'test/health-status.test.ts',
      'test/env-example.test.ts',
      'test/dockerfile.test.ts',
      'test/infra-config.test.ts',
      'test/policies.test.ts',
      'test/event-relay.test.ts',
      'test/group-commit.test.ts',
      'test/layers.test.ts',
      'test/local-node.test.ts',
    ],
    reporters: ['default'],
  },
});
