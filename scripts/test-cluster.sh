#!/usr/bin/env bash
# The cluster lane (`npm run test:cluster`): builds (or takes from the tools cache) the pinned
# cluster tools, then runs test/cluster/ against a loopback control plane it starts and stops
# itself, with the real Pulumi CLI and Kubernetes provider. Not part of `npm test`.
# RECORD_FIXTURES=1 also re-records test/fixtures/kubectl and test/fixtures/pulumi (see
# scripts/record-fixtures.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
# `node`: also containerd, runc, the CNI plugins, buildah, iptables (the real node, node.cluster.ts).
bash scripts/install-deps.sh node
bash scripts/tools.sh cluster
echo "cluster tools ready in $((SECONDS - started)) s"
# The real node's images (scripts/images/), built here rather than inside a test file's first hook,
# whose timeout an empty cache would exceed (the broker alone takes 2 to 3 minutes).
bash scripts/node-images.sh >/dev/null
echo "cluster tools and node images ready in $((SECONDS - started)) s"
mkdir -p .test-data
# The lane stops its control plane itself; this catches a worker killed before it could (timeout,
# Ctrl-C): `down` ends the process groups recorded in the state file and removes the folder.
export AINP_CLUSTER_STATE="$PWD/.test-data/cluster-lane.json"
trap 'npx tsx infra/cluster/cli.ts down >/dev/null 2>&1 || true' EXIT
status=0
npx vitest run --config vitest.cluster.config.ts "$@" 2>&1 | tee .test-data/cluster-lane.log || status=$?
# A failed teardown shows as a failed file or an unhandled error while vitest may still exit 0.
if grep -qE 'Test Files .*failed|unhandled error' .test-data/cluster-lane.log; then
  echo "cluster lane: vitest reported failures (see above)"
  status=1
fi
echo "cluster lane: $((SECONDS - started)) s"
exit $status
