#!/usr/bin/env bash
# k6: the pinned k6 (scripts/tools.sh builds it from go.k6.io/k6) with busybox, laid out like
# grafana/k6: /usr/bin/k6 as the entrypoint, user k6 (uid 12345, home /home/k6). The in-cluster gate
# Job (infra/ops/gate-job.ts) runs `sh -c` with echo, k6 and base64 as uid 12345, scripts from a
# ConfigMap in /scripts and its files in /tmp.
source "$(dirname "$0")/lib.sh"
VERSION=$(sed -n 's/^K6_VERSION=//p' "$ROOT/scripts/tools.sh")
BUSYBOX_VERSION=$(dpkg-query -W -f '${Version}' busybox-static)
hash=$(image_hash "$VERSION" "$BUSYBOX_VERSION")
cached k6 "$hash" && exit 0
bash "$ROOT/scripts/tools.sh" k6 >&2
started=$SECONDS
buildah_work
rootfs="$WORK/rootfs"
busybox_rootfs "$rootfs" k6:12345:/home/k6
mkdir -p "$rootfs/usr/bin"
cp "$ROOT/.tools/bin/k6" "$rootfs/usr/bin/k6"
commit_rootfs k6 "$hash" "$rootfs" "localhost/ainp/k6:$hash" \
  --entrypoint '["k6"]' --cmd '' --env PATH=/usr/bin:/bin --workingdir /home/k6 --user 12345:12345
echo "built image k6 in $((SECONDS - started)) s" >&2
