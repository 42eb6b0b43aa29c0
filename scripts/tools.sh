#!/usr/bin/env bash
# Builds the pinned command-line tools into .tools/bin (git-ignored) from their Go modules.
#   chart tests:   helm, kube-score          load tests: k6
#   cluster lane:  pulumi, pulumi-resource-kubernetes, etcd, kube-apiserver, kube-controller-manager,
#                  kube-scheduler, kubectl, kwok, controller-gen, and for the lane's real node
#                  kubelet, kube-proxy, coredns, and nats-server and cnpg-manager (CloudNativePG's
#                  operator and instance manager), which scripts/images/ lays into the node's
#                  images   (or the group name: cluster)
# Usage: scripts/tools.sh [tool|cluster]...   (no argument: helm kube-score k6)
# Built binaries are also kept in $AINP_TOOLS_CACHE (default ~/.cache/ainp-tools), so a fresh clone
# on the same machine (CI) copies them instead of building again.
# kube-score stands in for kube-linter, whose module the Go module proxy refuses (403).
# The cluster tools are built from the wrapper modules in tools/<name>/ (go.mod and go.sum pin every
# dependency); `go install module@version` refuses most of them because of their replace directives.
set -euo pipefail
cd "$(dirname "$0")/.."
HELM_VERSION=v3.22.0
K6_VERSION=v1.8.1
KUBE_SCORE_VERSION=v1.20.0
PULUMI_VERSION=v3.274.1
KUBERNETES_VERSION=v1.34.4
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.7.0
CONTROLLER_GEN_VERSION=v0.23.0
COREDNS_VERSION=v1.14.7
# The nats chart's appVersion (1.3.16) and the operator of the cloudnative-pg chart (0.29.0).
NATS_SERVER_VERSION=v2.11.10
CNPG_VERSION=v1.30.0
# The provider reports (and the engine matches plugins by) the @pulumi/kubernetes SDK version; its Go
# module is the pseudo-version in tools/pulumi-resource-kubernetes/go.mod (tagged ones are refused).
PULUMI_K8S_VERSION=$(node -p 'require("./package.json").devDependencies["@pulumi/kubernetes"]')
# AINP_TOOLS_BIN: where the tools go (default .tools/bin; a test points it at a scratch folder).
BIN="${AINP_TOOLS_BIN:-$PWD/.tools/bin}"
CACHE="${AINP_TOOLS_CACHE:-$HOME/.cache/ainp-tools}"
mkdir -p "$BIN" "$CACHE"
export GOBIN="$BIN" GOFLAGS=-mod=mod CGO_ENABLED=0

# Copies name-version from the cache when it is there (saying so; a tool already in .tools/bin at that
# version is left alone, silently); returns 1 when it must be built.
from_cache() { # name version
  local name=$1 version=$2 stamp="$BIN/.$1.version"
  if [ -x "$BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then return 0; fi
  [ -x "$CACHE/$name-$version" ] || return 1
  cp "$CACHE/$name-$version" "$BIN/$name.tmp" && mv "$BIN/$name.tmp" "$BIN/$name"
  echo "$version" >"$stamp"
  echo "copied $name $version from $CACHE"
}
to_cache() { # name version
  cp "$BIN/$1" "$CACHE/$1-$2.tmp" && mv "$CACHE/$1-$2.tmp" "$CACHE/$1-$2"
  echo "$2" >"$BIN/.$1.version"
}

build() { # name version module [ldflags]: the binary is named after the package's last element
  local name=$1 version=$2 module=$3 ldflags=${4:-} built
  from_cache "$name" "$version" && return 0
  echo "building $name $version (kept in $CACHE afterwards)"
  local started=$SECONDS
  go install -trimpath ${ldflags:+-ldflags "$ldflags"} "$module@$version"
  built=$(basename "$module")
  [[ $built =~ ^v[0-9]+$ ]] && built=$(basename "$(dirname "$module")")
  [ "$built" = "$name" ] || mv "$BIN/$built" "$BIN/$name"
  to_cache "$name" "$version"
  echo "built $name $version in $((SECONDS - started)) s"
}

# Builds packages of the wrapper module tools/<dir>, with its go.sum enforced, one binary each.
# Usage: build_wrapper dir version ldflags name=package...
build_wrapper() {
  local dir=$1 version=$2 ldflags=$3 entry name pkg tmp missing=()
  shift 3
  for entry in "$@"; do from_cache "${entry%%=*}" "$version" || missing+=("$entry"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "building ${missing[*]%%=*} $version from tools/$dir (kept in $CACHE afterwards)"
  local started=$SECONDS
  tmp=$(mktemp -d)
  for entry in "${missing[@]}"; do
    name=${entry%%=*} pkg=${entry#*=}
    (cd "tools/$dir" && GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w $ldflags" -o "$tmp/$name" "$pkg")
    mv "$tmp/$name" "$BIN/$name"
    to_cache "$name" "$version"
  done
  rmdir "$tmp"
  echo "built ${missing[*]%%=*} $version in $((SECONDS - started)) s"
}

# The provider embeds its schema (with the version set) and terraform mapping; upstream writes the
# two *-embed.json files with a go:generate step from the files shipped beside its main.go.
provider() {
  local dir=tools/pulumi-resource-kubernetes version="v$PULUMI_K8S_VERSION"
  from_cache pulumi-resource-kubernetes "$version" && return 0
  local src module=github.com/pulumi/pulumi-kubernetes/provider/v4
  # `go list -m` names the module's folder only once it is downloaded (on a fresh machine it is not).
  (cd $dir && GOFLAGS=-mod=readonly go mod download "$module")
  src="$(cd $dir && GOFLAGS=-mod=readonly go list -m -f '{{.Dir}}' "$module")/cmd/pulumi-resource-kubernetes"
  [ -f "$src/schema.json" ] || { echo "provider sources not found at $src" >&2; exit 1; }
  node -e '
    const fs = require("fs");
    const [src, dir, version] = process.argv.slice(1);
    const schema = JSON.parse(fs.readFileSync(`${src}/schema.json`, "utf8"));
    schema.version = version;
    fs.writeFileSync(`${dir}/schema-embed.json`, JSON.stringify(schema));
    const mapping = JSON.parse(fs.readFileSync(`${src}/terraform-mapping.json`, "utf8"));
    fs.writeFileSync(`${dir}/terraform-mapping-embed.json`, JSON.stringify(mapping));
  ' "$src" "$dir" "$PULUMI_K8S_VERSION"
  build_wrapper pulumi-resource-kubernetes "$version" \
    "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$PULUMI_K8S_VERSION" \
    pulumi-resource-kubernetes=.
}

kubernetes() { # name=package...: they share most packages, so they build one after the other
  local v=$KUBERNETES_VERSION minor flags=""
  minor=$(echo "$v" | cut -d. -f2)
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  build_wrapper kubernetes "$v" "$flags" "$@"
}

CLUSTER_TOOLS=(pulumi pulumi-resource-kubernetes etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok controller-gen kubelet kube-proxy coredns nats-server cnpg-manager)
wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=(helm kube-score k6)
[[ " ${wanted[*]} " == *" cluster "* ]] && wanted=("${wanted[@]/cluster/}" "${CLUSTER_TOOLS[@]}")
k8s_wanted=()
for tool in "${wanted[@]}"; do
  case "$tool" in
    '') ;;
    helm) build helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm ;;
    kube-score) build kube-score "$KUBE_SCORE_VERSION" github.com/zegl/kube-score/cmd/kube-score ;;
    k6) build k6 "$K6_VERSION" go.k6.io/k6 ;;
    pulumi)
      build_wrapper pulumi "$PULUMI_VERSION" \
        "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
        pulumi=github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
      ;;
    pulumi-resource-kubernetes) provider ;;
    etcd) build_wrapper etcd "$ETCD_VERSION" "" etcd=go.etcd.io/etcd/server/v3 ;;
    kube-apiserver | kube-controller-manager | kube-scheduler | kubectl | kubelet | kube-proxy) k8s_wanted+=("$tool=k8s.io/kubernetes/cmd/$tool") ;;
    kwok) build_wrapper kwok "$KWOK_VERSION" "-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" kwok=sigs.k8s.io/kwok/cmd/kwok ;;
    coredns) build_wrapper coredns "$COREDNS_VERSION" "" coredns=github.com/coredns/coredns ;;
    nats-server) build nats-server "$NATS_SERVER_VERSION" github.com/nats-io/nats-server/v2 "-s -w" ;;
    # Upstream's release flags (.goreleaser.yml); the version is already the module's own default.
    cnpg-manager)
      build_wrapper cnpg-manager "$CNPG_VERSION" \
        "-X github.com/cloudnative-pg/cloudnative-pg/pkg/versions.buildVersion=${CNPG_VERSION#v}" \
        cnpg-manager=github.com/cloudnative-pg/cloudnative-pg/cmd/manager ;;
    controller-gen) build_wrapper controller-gen "$CONTROLLER_GEN_VERSION" "" controller-gen=sigs.k8s.io/controller-tools/cmd/controller-gen ;;
    *) echo "unknown tool $tool" >&2; exit 2 ;;
  esac
done
[ ${#k8s_wanted[@]} -eq 0 ] || kubernetes "${k8s_wanted[@]}"
