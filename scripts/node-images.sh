#!/usr/bin/env bash
# The images the lane's real node runs, built here with no registry: buildah from scratch, one
# layer each holding Debian's busybox-static (scripts/install-deps.sh node), pushed to OCI archives
# that infra/cluster/node.ts imports into the node's containerd (`ctr images import`).
#   pause     the pod sandbox: a shell that sleeps until it is told to stop
#   busybox   the test image: sh, httpd, nc, nslookup, ip ... (busybox applets; its wget segfaults)
# Each archive is kept in $AINP_TOOLS_CACHE/images under a hash of this script and the busybox
# package version, so it is built once per machine. Prints one line per image: name ref archive.
set -euo pipefail
CACHE="${AINP_TOOLS_CACHE:-$HOME/.cache/ainp-tools}/images"
BUSYBOX=/bin/busybox
version=$(dpkg-query -W -f '${Version}' busybox-static)
hash=$( (cat "$0"; echo "$version") | sha256sum | cut -c1-12)
mkdir -p "$CACHE"

build() { # name archive entrypoint-json
  local name=$1 archive=$2 entrypoint=$3 work ctr started=$SECONDS
  work=$(mktemp -d)
  # Storage of its own (vfs: plain folders, no mounts), removed afterwards, and its network config
  # folder too (buildah creates /etc/cni/net.d otherwise): nothing outside $work.
  printf '[network]\nnetwork_config_dir = "%s"\n' "$work/cni" >"$work/containers.conf"
  export CONTAINERS_CONF="$work/containers.conf"
  local b=(buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs)
  mkdir -p "$work/rootfs/bin" "$work/rootfs/www" "$work/rootfs/tmp" "$work/rootfs/etc"
  cp "$BUSYBOX" "$work/rootfs/bin/busybox"
  for applet in $("$BUSYBOX" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$work/rootfs/bin/$applet"
  done
  echo 'root:x:0:0:root:/:/bin/sh' >"$work/rootfs/etc/passwd"
  echo 'root:x:0:' >"$work/rootfs/etc/group"
  echo "ainp $name image" >"$work/rootfs/www/index.html"
  chmod 1777 "$work/rootfs/tmp"
  tar -C "$work/rootfs" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$work/rootfs.tar" .
  ctr=$("${b[@]}" from scratch)
  "${b[@]}" add "$ctr" "$work/rootfs.tar" / >/dev/null
  "${b[@]}" config --entrypoint "$entrypoint" --cmd '' --env PATH=/bin --workingdir / \
    --label "ainp.source-hash=$hash" "$ctr"
  "${b[@]}" commit -q "$ctr" "localhost/ainp/$name:$hash" >/dev/null
  "${b[@]}" push -q "localhost/ainp/$name:$hash" "oci-archive:$archive.tmp:localhost/ainp/$name:$hash"
  mv "$archive.tmp" "$archive"
  "${b[@]}" rm -a >/dev/null
  "${b[@]}" rmi -a -f >/dev/null 2>&1 || true
  rm -rf "$work"
  echo "built image $name in $((SECONDS - started)) s" >&2
}

# The sandbox's PID 1 gets no default signal handlers, so the trap is what lets it stop on TERM.
PAUSE='["/bin/sh","-c","trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait $!; done"]'
for name in pause busybox; do
  archive="$CACHE/$name-$hash.oci.tar"
  if [ ! -s "$archive" ]; then
    if [ $name = pause ]; then build pause "$archive" "$PAUSE"; else build busybox "$archive" '["/bin/sh"]'; fi
  fi
  echo "$name localhost/ainp/$name:$hash $archive"
done
