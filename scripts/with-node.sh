#!/usr/bin/env bash
# Runs a command with the project's Node.js first on PATH (scripts/node.sh installs it if needed),
# so `npm start` and `npm test` run on the release CI and the image use.
set -euo pipefail
bin=$(bash "$(dirname "$0")/node.sh")
export PATH="$bin:$PATH"
exec "$@"
