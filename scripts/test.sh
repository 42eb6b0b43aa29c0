#!/usr/bin/env bash
# The test command (`npm test`): makes sure the pinned Node.js, the real services and pinned tools
# exist, builds the image's entry point (dist/), then runs every vitest suite against real
# PostgreSQL, Valkey and NATS on free loopback ports, and ends with one plain "N passed, N failed"
# line. Extra arguments go to vitest (`npm test -- test/platform.test.ts`).
#   AINP_TEST_DATA    folder for the run's data and reports (default .test-data)
#   AINP_TEST_PREPARED=1  skip the installs and the build (a test that runs `npm test` inside a
#                     run that already did them)
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$(bash scripts/node.sh):$PATH"
export PATH
if [ "${AINP_TEST_PREPARED:-}" != 1 ]; then
  bash scripts/install-deps.sh
  bash scripts/tools.sh helm kube-score
  npm run --silent build
fi
out=${AINP_TEST_DATA:-.test-data}
mkdir -p "$out"
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$out/results.json" "$@" 2>&1 |
  tee "$out/vitest.log" || status=$?
# Vitest reports an unhandled rejection but can still exit 0: such a run is a failure here.
if grep -q 'unhandled error' "$out/vitest.log"; then
  echo "vitest caught unhandled errors (see above): failing the run"
  status=1
fi
# The report decides too: vitest has exited 0 from a failing run before (an exit hook of a
# dependency, see test/global-setup.ts), and a failure must fail the run whatever the exit status.
if ! node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""));
  process.exit(r.success === false || r.numFailedTests > 0 || r.numFailedTestSuites > 0 ? 1 : 0);
' "$out/results.json"; then
  echo "the test report counts failures, or is missing: failing the run"
  status=1
fi
exit $status
