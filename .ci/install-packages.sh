#!/usr/bin/env bash
# Debian packages the network tests and the lab need: the routers Beacon is proven against (FRR, BIRD 2,
# GoBGP), the tools that look at the wire (arping, ndisc6, tcpdump, iproute2), and what node-gyp needs to
# build the native addon during npm install (python3, make, g++). The container images (scripts/build-image.sh)
# need mmdebstrap for their Debian bases, buildah to build and podman (with runc: crun refuses hybrid cgroups)
# to import and run them, qemu-user-static for the other architecture, and that architecture's C compiler
# for the test Pods' pause binary. The test cluster's nodes add kube-proxy's tools (iptables, nftables,
# conntrack), the CNI plugins (containernetworking-plugins), what the runc they run needs to build with
# seccomp (libseccomp-dev, pkg-config), and openssl for the cluster's certificates.
set -euo pipefail
case "$(dpkg --print-architecture)" in
  amd64) cross=gcc-aarch64-linux-gnu ;;
  arm64) cross=gcc-x86-64-linux-gnu ;;
  *) cross= ;;
esac
# iptables and faketime: the speaker fault tests (UDP blocked, a clock 30 minutes behind).
packages=(frr bird2 gobgpd iproute2 iptables arping ndisc6 tcpdump iputils-ping curl faketime python3 make g++
  mmdebstrap arch-test buildah podman runc qemu-user-static ${cross}
  nftables conntrack containernetworking-plugins libseccomp-dev pkg-config openssl util-linux)
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The packages start their daemons; the tests run their own copies inside network namespaces.
# Only the copies running in this (the host's) network namespace are the packages' daemons; routers that tests
# run (each in a namespace of its own) are left alone, so a second run on the same machine does not kill
# a first one's routers.
host_netns=$(readlink /proc/self/ns/net)
for svc in frr bird gobgpd; do
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
done
for pid in $(pgrep -f '/usr/lib/frr/|(^|/)(bird|gobgpd)( |$)' || true); do
  if [ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" = "$host_netns" ]; then kill "$pid" 2>/dev/null || true; fi
done
exit 0
