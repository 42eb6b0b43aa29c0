#!/usr/bin/env bash
# The test command (`npm test`): makes sure the real services and pinned tools exist, builds the
# image's entry point (dist/), then runs every vitest suite against real PostgreSQL, Valkey and
# NATS on free loopback ports, and ends with one plain "N passed, N failed" line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/tools.sh helm kube-score
npm run --silent build
mkdir -p .test-data
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json=.test-data/results.json "$@" 2>&1 |
  tee .test-data/vitest.log || status=$?
# Vitest reports an unhandled rejection but can still exit 0: such a run is a failure here.
if grep -q 'unhandled error' .test-data/vitest.log; then
  echo "vitest caught unhandled errors (see above): failing the run"
  status=1
fi
node -e '
  const r = JSON.parse(require("fs").readFileSync(".test-data/results.json", "utf8"));
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""));
' || true
exit $status
