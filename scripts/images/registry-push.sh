#!/usr/bin/env bash
# The promotion lane's releases (test/cluster/promotion.cluster.ts), pushed to its registry on
# loopback (Debian's docker-registry, plain http): the broker image scripts/images/broker.sh built,
# and two bad releases built FROM it with one more layer, test/cluster/faults/broker-fault.mjs, loaded
# by every node process of the image (NODE_OPTIONS=--import) and told by AINP_FAULT what to break:
#   broker              the release as built
#   broker-api-slow     every 10th /api request of a pod is answered 2 s late: a release whose
#                       answers are all right and whose p95 is far over the SLO's, which only load
#                       shows (its pods turn Ready, the smoke passes)
#   broker-never-ready  /ready always 503: a release whose pods never take traffic
# Each is pushed by buildah (compressed, so the registry's digest is not the imported archive's: the
# node's containerd has to pull it). Prints one line per image: name repository digest.
#   scripts/images/registry-push.sh 127.0.0.1:PORT
set -euo pipefail
source "$(dirname "$0")/lib.sh"
host=${1:?usage: registry-push.sh HOST:PORT}
[[ $host =~ ^127\.0\.0\.1:[0-9]+$ ]] || { echo "registry-push.sh: a loopback registry only (127.0.0.1:PORT), got $host" >&2; exit 2; }
read -r _ ref archive _ < <(bash "$(dirname "$0")/broker.sh")
repository="$host/ainp/broker"
buildah_work
"${B[@]}" pull -q "oci-archive:$archive" >/dev/null

# Pushes ref to the registry under tag; prints the digest the registry holds it by.
push() { # ref tag
  "${B[@]}" push -q --tls-verify=false --digestfile "$WORK/digest" "$1" "docker://$repository:$2"
  cat "$WORK/digest"
}

echo "broker $repository $(push "$ref" release)"
for fault in api-slow never-ready; do
  ctr=$("${B[@]}" from -q --pull=never "$ref")
  "${B[@]}" copy -q --chown 0:0 "$ctr" "$ROOT/test/cluster/faults/broker-fault.mjs" /app/broker-fault.mjs >/dev/null
  "${B[@]}" config --env NODE_OPTIONS=--import=/app/broker-fault.mjs --env "AINP_FAULT=$fault" \
    --env AINP_FAULT_DELAY_MS=2000 \
    --label "ainp.fault=$fault" "$ctr"
  "${B[@]}" commit -q "$ctr" "localhost/ainp/broker-$fault:lane" >/dev/null
  echo "broker-$fault $repository $(push "localhost/ainp/broker-$fault:lane" "$fault")"
done
