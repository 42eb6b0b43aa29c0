#!/usr/bin/env bash
# Installs the system services the tests and the local stack use when the machine lacks them:
# redis-server (Valkey-compatible) and nats-server (JetStream) from Debian's packages.
#   scripts/install-deps.sh        those two (what `npm test` needs)
#   scripts/install-deps.sh node   also the cluster lane's real node (infra/cluster/node.ts):
#                                  containerd, runc, the CNI plugins, buildah (its images),
#                                  iptables and conntrack (kube-proxy), busybox-static (the images'
#                                  only binary), socat (the node's way to the API server), tzdata
#                                  (the PostgreSQL image's time zones; scripts/images/) and
#                                  docker-registry (a registry on loopback: promote's tag test), each
#                                  pinned to the version the lane was run with. The images' other
#                                  inputs are fetched by version and checksum (scripts/images/).
set -euo pipefail
NODE_PACKAGES=(
  containerd=1.6.20~ds1-1+deb12u3
  runc=1.1.5+ds1-1+deb12u1
  containernetworking-plugins=1.1.1+ds1-3+b5
  buildah=1.28.2+ds1-3+deb12u1+b3
  iptables=1.8.9-2
  conntrack=1:1.4.7-1+b2
  busybox-static=1:1.35.0-4+deb12u1+b1
  socat=1.7.4.4-2
  docker-registry=2.8.2+ds1-1
  tzdata=2025b-0+deb12u2
)
missing=()
command -v redis-server >/dev/null 2>&1 || command -v valkey-server >/dev/null 2>&1 || missing+=(redis-server)
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
if [ "${1:-}" = node ]; then
  for pkg in "${NODE_PACKAGES[@]}"; do
    # Installed at exactly the pinned version, or (re)installed at it.
    [ "$(dpkg-query -W -f '${Version}' "${pkg%%=*}" 2>/dev/null)" = "${pkg#*=}" ] || missing+=("$pkg")
  done
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing: ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]} from Debian packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The packages start system-wide daemons on the default ports; the project runs its own on free
# ports (and the lane its own containerd, with its own socket and folders).
for svc in redis-server nats-server containerd docker-registry; do
  (command -v systemctl >/dev/null && systemctl disable --now "$svc" >/dev/null 2>&1) || true
  (command -v service >/dev/null && service "$svc" stop >/dev/null 2>&1) || true
done
