# Sourced by scripts/images/<name>.sh: what every image of the lane's node shares.
# An image is a folder laid out here (a rootfs), added as one layer to `buildah from scratch`, given
# its config, committed and pushed to an OCI archive in $CACHE, named after a hash of its inputs
# (image_hash), so a warm run finds the archive and builds nothing. Each script prints one line:
#   name ref archive digest        (digest: the manifest's, sha256:<hex>, which pods may pin)
# Buildah runs with storage of its own (vfs: plain folders, no mounts) under a temporary folder,
# removed afterwards, and its network config folder there too (it creates /etc/cni/net.d otherwise):
# nothing is left outside it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS_CACHE="${AINP_TOOLS_CACHE:-$HOME/.cache/ainp-tools}"
CACHE="$TOOLS_CACHE/images"
BUSYBOX=/bin/busybox
mkdir -p "$CACHE"

# 12 hex digits of the sha256 of the calling script, this library and the given words (versions,
# hashes of sources), so changing any of them names a new archive.
image_hash() {
  (cat "$0" "${BASH_SOURCE[0]}" && printf '%s\n' "$@") | sha256sum | cut -c1-12
}

# The line for an image: name ref archive digest (the manifest's, from the archive's index.json).
image_line() { # name ref archive
  local digest
  digest=$(tar -xOf "$3" index.json | grep -o '"digest":"sha256:[0-9a-f]\{64\}"' | head -1 | cut -d'"' -f4)
  [ -n "$digest" ] || { echo "no manifest digest in $3" >&2; return 1; }
  echo "$1 $2 $3 $digest"
}

# Prints the line and returns 0 when name's archive for hash is already built.
cached() { # name hash [ref]
  local archive="$CACHE/$1-$2.oci.tar"
  [ -s "$archive" ] || return 1
  image_line "$1" "${3:-localhost/ainp/$1:$2}" "$archive"
}

# A temporary folder with buildah's storage and config; sets WORK and B (the buildah command).
buildah_work() {
  WORK=$(mktemp -d)
  printf '[network]\nnetwork_config_dir = "%s"\n' "$WORK/cni" >"$WORK/containers.conf"
  export CONTAINERS_CONF="$WORK/containers.conf"
  B=(buildah --root "$WORK/storage" --runroot "$WORK/run" --storage-driver vfs)
  trap 'cleanup_work' EXIT
}
cleanup_work() {
  [ -n "${WORK:-}" ] && [ -d "$WORK" ] || return 0
  "${B[@]}" rm -a >/dev/null 2>&1 || true
  "${B[@]}" rmi -a -f >/dev/null 2>&1 || true
  rm -rf "$WORK"
}

# busybox's applets in /bin, /etc/passwd and /etc/group with root and the given users
# ("name:uid:home"), /tmp world-writable: the shell every chart's probes and scripts expect.
busybox_rootfs() { # dir [user:uid:home]...
  local dir=$1 applet u name uid home
  shift
  mkdir -p "$dir/bin" "$dir/tmp" "$dir/etc"
  cp "$BUSYBOX" "$dir/bin/busybox"
  for applet in $("$BUSYBOX" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$dir/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$dir/etc/passwd"
  echo 'root:x:0:' >"$dir/etc/group"
  for u in "$@"; do
    IFS=: read -r name uid home <<<"$u"
    echo "$name:x:$uid:$uid:$name:$home:/bin/sh" >>"$dir/etc/passwd"
    echo "$name:x:$uid:" >>"$dir/etc/group"
    mkdir -p "$dir$home"
    chown "$uid:$uid" "$dir$home"
  done
  mkdir -p "$dir/root"
  chmod 1777 "$dir/tmp"
}

# Copies the shared libraries the given ELF files load (as ldd resolves them on this machine, whose
# glibc the images share) into dir at the same paths, with the dynamic loader.
copy_libs() { # dir file...
  local dir=$1 lib
  shift
  for lib in $(ldd "$@" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u); do
    mkdir -p "$dir$(dirname "$lib")"
    cp -L "$lib" "$dir$lib"
  done
  mkdir -p "$dir/lib64"
  [ -e "$dir/lib64/ld-linux-x86-64.so.2" ] || cp -L /lib64/ld-linux-x86-64.so.2 "$dir/lib64/"
}

# Commits dir as the one layer of a new image and pushes it to the archive of name and hash.
# The remaining arguments go to `buildah config` (entrypoint, env, user ...). Prints the line.
commit_rootfs() { # name hash dir ref [buildah config args]...
  local name=$1 hash=$2 dir=$3 ref=$4 ctr archive="$CACHE/$1-$2.oci.tar"
  shift 4
  tar -C "$dir" --sort=name --mtime=@0 --numeric-owner -cf "$WORK/rootfs.tar" .
  ctr=$("${B[@]}" from scratch)
  "${B[@]}" add "$ctr" "$WORK/rootfs.tar" / >/dev/null
  "${B[@]}" config --label "ainp.source-hash=$hash" "$@" "$ctr"
  "${B[@]}" commit -q "$ctr" "$ref" >/dev/null
  push_archive "$ref" "$archive"
  image_line "$name" "$ref" "$archive"
}

push_archive() { # ref archive
  "${B[@]}" push -q "$1" "oci-archive:$2.tmp:$1"
  mv "$2.tmp" "$2"
}

# A file downloaded once into the tools cache and checked against its sha256.
fetched() { # file sha256 (the file's path in $TOOLS_CACHE/downloads, made by the caller if absent)
  echo "$2  $1" | sha256sum -c --quiet - >&2
}
