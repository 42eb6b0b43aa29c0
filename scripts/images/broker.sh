#!/usr/bin/env bash
# node-base and broker.
#   node-base  what the Dockerfile's stages need from their base (node:<version>-bookworm-slim
#              upstream): the project's pinned Node.js (scripts/node.sh, from the tools cache), npm
#              (pinned below, checked by sha256), the shared libraries node loads, and busybox's sh
#              for npm's scripts. A user `node` (uid 1000) and /root as HOME, like the upstream image.
#   broker     the project's own Dockerfile built by `buildah bud` with NODE_IMAGE=node-base (its
#              default stays the public image). `npm ci` in its stages reads this machine's npm
#              cache (`npm config get cache`, ~/.npm, filled by the `npm ci` every checkout runs:
#              package-lock.json's packages are all there) through an overlay mount,
#              so the build writes nothing to it, and runs with no network at all (`--network
#              none`, npm `offline`): a package missing from the cache fails the build (ENOTCACHED).
# The broker's hash covers the Dockerfile and every input it copies (package*.json, tsconfig*,
# app/, migrations/), and node-base's.
source "$(dirname "$0")/lib.sh"
NODE_DIR="$(dirname "$(bash "$ROOT/scripts/node.sh")")"
NODE_VERSION=$("$NODE_DIR/bin/node" --version)
NPM_VERSION=11.19.1
NPM_SHA256=9f58bff01604cb1b14008fef14dceb14d836a49225e45c6c2e37de3be3e707f0
BUSYBOX_VERSION=$(dpkg-query -W -f '${Version}' busybox-static)
base_hash=$(image_hash node-base "$NODE_VERSION" "$NPM_SHA256" "$BUSYBOX_VERSION")
base_ref="localhost/ainp/node-base:$base_hash"
base_archive="$CACHE/node-base-$base_hash.oci.tar"

# The broker's inputs as git sees them in the working tree (tracked files and new ones not ignored):
# the Dockerfile, .dockerignore and every file the Dockerfile COPYs (test/node-images.test.ts keeps
# this list and the COPY lines together). `broker.sh --inputs` prints them.
broker_files() {
  (cd "$ROOT" && git ls-files -co --exclude-standard -- Dockerfile .dockerignore package.json \
    package-lock.json 'tsconfig*.json' app migrations | LC_ALL=C sort)
}
[ "${1:-}" = --inputs ] && { broker_files; exit 0; }
broker_hash=$(image_hash broker "$base_hash" "$(cd "$ROOT" && broker_files | xargs sha256sum)")
cached broker "$broker_hash" && exit 0

buildah_work
if [ -s "$base_archive" ]; then
  "${B[@]}" pull -q "oci-archive:$base_archive" >/dev/null
else
  started=$SECONDS
  mkdir -p "$TOOLS_CACHE/downloads"
  npm_tgz="$TOOLS_CACHE/downloads/npm-$NPM_VERSION.tgz"
  [ -s "$npm_tgz" ] || (cd "$TOOLS_CACHE/downloads" && npm pack --silent "npm@$NPM_VERSION" >/dev/null)
  fetched "$npm_tgz" "$NPM_SHA256"
  rootfs="$WORK/rootfs"
  busybox_rootfs "$rootfs" node:1000:/home/node
  mkdir -p "$rootfs/usr/local/bin" "$rootfs/usr/local/lib/node_modules/npm" "$rootfs/usr/local/etc"
  cp -a "$NODE_DIR/bin/node" "$rootfs/usr/local/bin/node"
  cp -a "$NODE_DIR/LICENSE" "$rootfs/usr/local/lib/node-LICENSE"
  tar -xzf "$npm_tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  copy_libs "$rootfs" "$rootfs/usr/local/bin/node"
  # npm-cli.js starts with `#!/usr/bin/env node`.
  mkdir -p "$rootfs/usr/bin" && ln -s ../../bin/env "$rootfs/usr/bin/env"
  commit_rootfs node-base "$base_hash" "$rootfs" "$base_ref" \
    --cmd '["node"]' --env PATH=/usr/local/bin:/usr/bin:/bin --env NODE_VERSION="${NODE_VERSION#v}" \
    --env HOME=/root >/dev/null
  echo "built image node-base in $((SECONDS - started)) s" >&2
fi

started=$SECONDS
npm_cache=$(npm config get cache)
[ -d "$npm_cache/_cacache" ] || { echo "no npm cache at $npm_cache: run npm ci first" >&2; exit 1; }
printf 'offline=true\ncache=/npm-cache\nupdate-notifier=false\n' >"$WORK/npmrc"
ref="localhost/ainp/broker:$broker_hash"
# --layers off, vfs storage: each stage's result is one copy; --pull never: no registry is asked.
"${B[@]}" bud -q --pull=never --network none --layers=false \
  --build-arg "NODE_IMAGE=$base_ref" \
  -v "$npm_cache:/npm-cache:O" -v "$WORK/npmrc:/usr/local/etc/npmrc:ro" \
  --label "ainp.source-hash=$broker_hash" -t "$ref" -f "$ROOT/Dockerfile" "$ROOT" >/dev/null
archive="$CACHE/broker-$broker_hash.oci.tar"
push_archive "$ref" "$archive"
image_line broker "$ref" "$archive"
echo "built image broker in $((SECONDS - started)) s" >&2
