#!/usr/bin/env bash
# Failures under load (`npm run test:chaos`, issue 33): the cluster stack and a staging app stack on
# the lane's real node, k6 load with signed writes from a Job beside the broker, and meanwhile a
# broker pod, NATS, Valkey and the PostgreSQL primary deleted one at a time; then every
# acknowledged write, every event and the ledger checked in the database (test/chaos/). Not part
# of `npm test`, `npm run test:cluster` or .ci/run: a full run takes about 25 minutes.
#   AINP_CHAOS_TABLE     where the failure table and the checks' report are written
#                        (default .test-data/chaos-table.txt)
#   AINP_CHAOS_JOURNAL   where k6's whole log (the journal) is kept (default .test-data/chaos-k6.log)
#   AINP_CHAOS_DURATION  the load's length, in seconds (default 420s); AINP_CHAOS_RATE its
#                        requests per second (default 50); AINP_CHAOS_PAUSE_S the pause after each
#                        failed piece is back (default 20)
# The real node exists once per machine: the run holds /tmp/ainp-real-node.lock throughout (it
# waits for whoever holds it).
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$(bash scripts/node.sh):$PATH"
export PATH
started=$SECONDS
bash scripts/install-deps.sh node
bash scripts/tools.sh cluster
bash scripts/node-images.sh >/dev/null
echo "cluster tools and node images ready in $((SECONDS - started)) s"
mkdir -p .test-data
export AINP_CHAOS_TABLE="${AINP_CHAOS_TABLE:-$PWD/.test-data/chaos-table.txt}"
export AINP_CHAOS_JOURNAL="${AINP_CHAOS_JOURNAL:-$PWD/.test-data/chaos-k6.log}"
export AINP_CLUSTER_STATE="$PWD/.test-data/chaos-lane.json"
status=0
(
  # Held from the node's start to its `down` (which catches a worker killed before it could stop
  # the lane itself): the next holder finds no node of this run.
  flock 9
  trap 'npx tsx infra/cluster/cli.ts down >/dev/null 2>&1 || true' EXIT
  npx vitest run --config vitest.chaos.config.ts "$@" 2>&1 | tee .test-data/chaos-lane.log
) 9>/tmp/ainp-real-node.lock || status=$?
# (Not 'unhandled error' alone: the report quotes the brokers' own "unhandled error" log lines.)
if grep -qE 'Test Files .*failed|caught [0-9]+ unhandled error' .test-data/chaos-lane.log; then
  echo "chaos lane: vitest reported failures (see above)"
  status=1
fi
echo "chaos lane: $((SECONDS - started)) s; the failure table: $AINP_CHAOS_TABLE"
exit $status
