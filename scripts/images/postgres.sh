#!/usr/bin/env bash
# postgres: a PostgreSQL operand image for CloudNativePG 1.30: Debian's postgresql-15,
# postgresql-client-15 (pg_basebackup, psql, pg_isready ...) and libpq5 at
# the version pinned below (their .deb files unpacked here, never installed on this machine), the
# shared libraries their programs and modules load, tzdata's zoneinfo (Debian builds PostgreSQL
# against the system time zones) and busybox. The instance manager finds initdb, postgres, pg_ctl,
# pg_controldata, pg_basebackup, pg_rewind, pg_archivecleanup ... on PATH, runs as uid 26
# (user postgres) and reads the major version from the image tag (15.20-<hash>). The JIT module
# (llvmjit, 100+ MB of LLVM) is left out: jit is then simply off. No barman tools (backups go
# through a plugin, or none in the lane).
source "$(dirname "$0")/lib.sh"
PG_MAJOR=15
PG_VERSION=15.20
DEB_VERSION=15.20-0+deb12u1
BUSYBOX_VERSION=$(dpkg-query -W -f '${Version}' busybox-static)
TZDATA_VERSION=$(dpkg-query -W -f '${Version}' tzdata)
hash=$(image_hash "$DEB_VERSION" "$BUSYBOX_VERSION" "$TZDATA_VERSION")
ref="localhost/ainp/postgresql:$PG_VERSION-$hash"
cached postgres "$hash" "$ref" && exit 0
started=$SECONDS
debs="$TOOLS_CACHE/downloads/postgresql-$DEB_VERSION"
PACKAGES=("postgresql-$PG_MAJOR" "postgresql-client-$PG_MAJOR" libpq5)
have_debs() { for d in "${PACKAGES[@]}"; do [ -s "$debs/$d.deb" ] || return 1; done; }
if ! have_debs; then
  rm -rf "$debs.tmp" && mkdir -p "$debs.tmp"
  # apt checks each file against the signed archive index.
  # A machine whose package lists predate the pinned version reads them again first.
  (cd "$debs.tmp" && { apt-get download -q "${PACKAGES[@]/%/=$DEB_VERSION}" >&2 ||
    { apt-get update -qq >&2 && apt-get download -q "${PACKAGES[@]/%/=$DEB_VERSION}" >&2; }; })
  for d in "${PACKAGES[@]}"; do mv "$debs.tmp/${d}_"*.deb "$debs.tmp/$d.deb"; done
  rm -rf "$debs" && mv "$debs.tmp" "$debs"
fi
buildah_work
pkg="$WORK/pkg"
rootfs="$WORK/rootfs"
for d in "${PACKAGES[@]}"; do dpkg-deb -x "$debs/$d.deb" "$pkg"; done
busybox_rootfs "$rootfs" postgres:26:/var/lib/postgresql
bin=/usr/lib/postgresql/$PG_MAJOR/bin
mkdir -p "$rootfs/usr/lib/postgresql" "$rootfs/usr/share/postgresql" "$rootfs/usr/share/doc"
cp -a "$pkg/usr/lib/postgresql/$PG_MAJOR" "$rootfs/usr/lib/postgresql/"
cp -a "$pkg/usr/share/postgresql/$PG_MAJOR" "$rootfs/usr/share/postgresql/"
cp -a "$pkg/usr/share/doc/postgresql-$PG_MAJOR" "$pkg/usr/share/doc/postgresql-client-$PG_MAJOR" "$rootfs/usr/share/doc/"
rm -rf "$rootfs/usr/lib/postgresql/$PG_MAJOR/lib/llvmjit"* "$rootfs/usr/lib/postgresql/$PG_MAJOR/lib/bitcode"
# Libraries as this machine resolves them, then libpq from the pinned package over the machine's.
copy_libs "$rootfs" "$rootfs$bin"/* "$rootfs/usr/lib/postgresql/$PG_MAJOR/lib"/*.so
cp -a "$pkg/usr/lib/x86_64-linux-gnu/." "$rootfs/usr/lib/x86_64-linux-gnu/"
cp -a /usr/share/zoneinfo "$rootfs/usr/share/"
mkdir -p "$rootfs/var/run/postgresql" "$rootfs/var/lib/postgresql/data"
chown -R 26:26 "$rootfs/var/run/postgresql" "$rootfs/var/lib/postgresql"
chmod 2777 "$rootfs/var/run/postgresql"
commit_rootfs postgres "$hash" "$rootfs" "$ref" \
  --cmd '["postgres"]' --env "PATH=$bin:/usr/local/bin:/usr/bin:/bin" --env PGDATA=/var/lib/postgresql/data \
  --env PG_MAJOR=$PG_MAJOR --env PG_VERSION=$PG_VERSION --user 26:26 --port 5432/tcp --workingdir /var/lib/postgresql
echo "built image postgres in $((SECONDS - started)) s" >&2
