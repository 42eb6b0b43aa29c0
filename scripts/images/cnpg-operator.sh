#!/usr/bin/env bash
# cnpg-operator: CloudNativePG's manager v1.30.0 (scripts/tools.sh builds it from
# github.com/cloudnative-pg/cloudnative-pg/cmd/manager), laid out as upstream's Dockerfile does:
# /operator/manager_amd64 with /manager a link to it, /licenses, user 65532 (distroless nonroot),
# entrypoint /manager. The operator copies /manager into every PostgreSQL pod (its bootstrap init
# container runs `/manager bootstrap /controller/manager`), so that path is what matters. No shell:
# upstream's base (distroless static) has none either.
source "$(dirname "$0")/lib.sh"
VERSION=$(sed -n 's/^CNPG_VERSION=//p' "$ROOT/scripts/tools.sh")
LICENSE_DIR=$(cd "$ROOT/tools/cnpg-manager" && GOFLAGS=-mod=readonly go list -m -f '{{.Dir}}' github.com/cloudnative-pg/cloudnative-pg 2>/dev/null || true)
hash=$(image_hash "$VERSION" "$(sha256sum "$ROOT/tools/cnpg-manager/go.sum")")
cached cnpg-operator "$hash" && exit 0
bash "$ROOT/scripts/tools.sh" cnpg-manager >&2
[ -n "$LICENSE_DIR" ] || LICENSE_DIR=$(cd "$ROOT/tools/cnpg-manager" && GOFLAGS=-mod=readonly go list -m -f '{{.Dir}}' github.com/cloudnative-pg/cloudnative-pg)
started=$SECONDS
buildah_work
rootfs="$WORK/rootfs"
mkdir -p "$rootfs/operator" "$rootfs/licenses" "$rootfs/etc" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
install -m 0755 -o 65532 -g 65532 "$ROOT/.tools/bin/cnpg-manager" "$rootfs/operator/manager_amd64"
ln -s operator/manager_amd64 "$rootfs/manager"
cp "$LICENSE_DIR/LICENSE" "$rootfs/licenses/LICENSE"
cp -r "$LICENSE_DIR/licenses/." "$rootfs/licenses/" 2>/dev/null || true
echo 'root:x:0:0:root:/root:/sbin/nologin' >"$rootfs/etc/passwd"
echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >>"$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
commit_rootfs cnpg-operator "$hash" "$rootfs" "localhost/ainp/cnpg-operator:$hash" \
  --entrypoint '["/manager"]' --cmd '' --workingdir / --user 65532:65532
echo "built image cnpg-operator in $((SECONDS - started)) s" >&2
