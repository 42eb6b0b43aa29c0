#!/usr/bin/env bash
# Builds the pinned command-line tools into .tools/bin (git-ignored) from their Go modules: helm and
# kube-score (chart tests), k6 (load tests). Usage: scripts/tools.sh [helm] [kube-score] [k6]
# Built binaries are also kept in $AINP_TOOLS_CACHE (default ~/.cache/ainp-tools), so a fresh clone
# on the same machine (CI) copies them instead of building again.
# kube-score stands in for kube-linter, whose module the Go module proxy refuses (403).
set -euo pipefail
cd "$(dirname "$0")/.."
HELM_VERSION=v3.22.0
K6_VERSION=v1.8.1
KUBE_SCORE_VERSION=v1.20.0
BIN="$PWD/.tools/bin"
CACHE="${AINP_TOOLS_CACHE:-$HOME/.cache/ainp-tools}"
mkdir -p "$BIN" "$CACHE"
export GOBIN="$BIN" GOFLAGS=-mod=mod CGO_ENABLED=0

build() { # name version module
  local name=$1 version=$2 module=$3 stamp="$BIN/.$1.version"
  if [ -x "$BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then return 0; fi
  if [ -x "$CACHE/$name-$version" ]; then
    cp "$CACHE/$name-$version" "$BIN/$name"
  else
    echo "building $name $version (kept in $CACHE afterwards)"
    local started=$SECONDS
    go install "$module@$version"
    cp "$BIN/$name" "$CACHE/$name-$version.tmp" && mv "$CACHE/$name-$version.tmp" "$CACHE/$name-$version"
    echo "built $name $version in $((SECONDS - started)) s"
  fi
  echo "$version" >"$stamp"
}

wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=(helm kube-score k6)
for tool in "${wanted[@]}"; do
  case "$tool" in
    helm) build helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm ;;
    kube-score) build kube-score "$KUBE_SCORE_VERSION" github.com/zegl/kube-score/cmd/kube-score ;;
    k6) build k6 "$K6_VERSION" go.k6.io/k6 ;;
    *) echo "unknown tool $tool" >&2; exit 2 ;;
  esac
done
