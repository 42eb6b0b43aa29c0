#!/usr/bin/env bash
# The project's Node.js: an exact LTS release (the one the Dockerfile's base image carries). Prints
# the folder that holds its `node` binary. When the machine's `node` is another version, the
# release is installed from the npm registry's `node-<os>-<arch>` package (npm checks the tarball
# against the registry's integrity) into the tools cache, $AINP_TOOLS_CACHE (default
# ~/.cache/ainp-tools), and reused from there.
#   PATH="$(bash scripts/node.sh):$PATH"   or   bash scripts/with-node.sh CMD [ARGS...]
set -euo pipefail
NODE_VERSION=26.10.0
if [ "$(node --version 2>/dev/null)" = "v$NODE_VERSION" ]; then
  dirname "$(command -v node)"
  exit 0
fi
CACHE="${AINP_TOOLS_CACHE:-$HOME/.cache/ainp-tools}"
case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) echo "no Node.js package for $(uname -s)" >&2; exit 1 ;; esac
case "$(uname -m)" in x86_64 | amd64) arch=x64 ;; aarch64 | arm64) arch=arm64 ;; *) echo "no Node.js package for $(uname -m)" >&2; exit 1 ;; esac
dir="$CACHE/node-v$NODE_VERSION-$os-$arch"
if [ ! -x "$dir/bin/node" ]; then
  echo "installing Node.js $NODE_VERSION into $dir (npm package node-$os-$arch)" >&2
  mkdir -p "$CACHE"
  tmp=$(mktemp -d "$CACHE/.node-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  npm pack --silent --pack-destination "$tmp" "node-$os-$arch@$NODE_VERSION" >/dev/null
  tar -xzf "$tmp"/node-*.tgz -C "$tmp"
  [ "$("$tmp/package/bin/node" --version)" = "v$NODE_VERSION" ] || { echo "the node package is not v$NODE_VERSION" >&2; exit 1; }
  rm -rf "$dir" && mv "$tmp/package" "$dir"
fi
echo "$dir/bin"
