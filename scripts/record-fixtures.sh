#!/usr/bin/env bash
# Re-records the tool-output fixtures the pure decision tests read, from the real tools in the
# cluster lane: test/fixtures/kubectl/<state>/*.json (the kubectl queries of `npm run health`, on a
# healthy release and on one scaled to 0) and test/fixtures/pulumi/local-history.json
# (`pulumi stack history --json` after two updates and a rollback, on a file:// backend) and
# test/fixtures/iptables/node-up.iptables-save (iptables with the real node up: node.cluster.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
RECORD_FIXTURES=1 bash scripts/test-cluster.sh "$@"
npx prettier --write test/fixtures/kubectl test/fixtures/pulumi >/dev/null
git status --short test/fixtures
