#!/usr/bin/env bash
# The images the lane's real node runs, built here with no registry by scripts/images/<name>.sh
# (buildah, from scratch or from the project's Dockerfile), each kept as an OCI archive in
# $AINP_TOOLS_CACHE/images under a hash of its inputs, so a warm run builds nothing.
# infra/cluster/node.ts imports every archive into the node's containerd (`ctr images import`).
# Prints one line per image: name ref archive digest (the manifest's sha256).
#   scripts/node-images.sh            every image
#   scripts/node-images.sh NAME...    those scripts only (busybox makes pause and busybox)
set -euo pipefail
dir="$(dirname "$0")/images"
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(busybox valkey nats postgres broker k6 cnpg-operator)
for name in "${names[@]}"; do bash "$dir/$name.sh"; done
