#!/usr/bin/env bash
# pause and busybox: one layer each holding Debian's busybox-static (scripts/install-deps.sh node).
#   pause     the pod sandbox: a shell that sleeps until it is told to stop
#   busybox   the test image: sh, httpd, nc, nslookup, ip ... (busybox applets; its wget segfaults)
source "$(dirname "$0")/lib.sh"
BUSYBOX_VERSION=$(dpkg-query -W -f '${Version}' busybox-static)
hash=$(image_hash "$BUSYBOX_VERSION")
# The sandbox's PID 1 gets no default signal handlers, so the trap is what lets it stop on TERM.
PAUSE='["/bin/sh","-c","trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait $!; done"]'
for name in pause busybox; do
  cached $name "$hash" && continue
  started=$SECONDS
  buildah_work
  busybox_rootfs "$WORK/rootfs"
  mkdir -p "$WORK/rootfs/www"
  echo "ainp $name image" >"$WORK/rootfs/www/index.html"
  entrypoint='["/bin/sh"]'
  [ $name = pause ] && entrypoint=$PAUSE
  commit_rootfs $name "$hash" "$WORK/rootfs" "localhost/ainp/$name:$hash" \
    --entrypoint "$entrypoint" --cmd '' --env PATH=/bin --workingdir /
  cleanup_work
  echo "built image $name in $((SECONDS - started)) s" >&2
done
