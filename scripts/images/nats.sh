#!/usr/bin/env bash
# nats: nats-server at the vendored nats chart's appVersion (chart 1.3.16, server v2.11.10), built
# from the Go module proxy by scripts/tools.sh, with busybox. The chart starts the container with
# args only (`--config /etc/nats-config/nats.conf`), so nats-server is the entrypoint, and its
# preStop runs `nats-server -sl=ldm=...` from PATH. The chart's config reloader and nats-box are
# other images: the lane turns them off (reloader.enabled, natsBox.enabled: false).
source "$(dirname "$0")/lib.sh"
VERSION=$(sed -n 's/^NATS_SERVER_VERSION=//p' "$ROOT/scripts/tools.sh")
BUSYBOX_VERSION=$(dpkg-query -W -f '${Version}' busybox-static)
hash=$(image_hash "$VERSION" "$BUSYBOX_VERSION")
cached nats "$hash" && exit 0
bash "$ROOT/scripts/tools.sh" nats-server >&2
started=$SECONDS
buildah_work
rootfs="$WORK/rootfs"
busybox_rootfs "$rootfs"
mkdir -p "$rootfs/usr/local/bin" "$rootfs/data" "$rootfs/var/run/nats"
cp "$ROOT/.tools/bin/nats-server" "$rootfs/usr/local/bin/nats-server"
commit_rootfs nats "$hash" "$rootfs" "localhost/ainp/nats:$hash" \
  --entrypoint '["nats-server"]' --cmd '["--jetstream","--store_dir","/data"]' \
  --env PATH=/usr/local/bin:/bin --port 4222/tcp --port 8222/tcp
echo "built image nats in $((SECONDS - started)) s" >&2
