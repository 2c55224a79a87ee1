#!/usr/bin/env bash
# Debian packages the network tests and the lab need: the routers Beacon is proven against (FRR, BIRD 2,
# GoBGP), the tools that look at the wire (arping, ndisc6, tcpdump, iproute2), and what node-gyp needs to
# build the native addon during npm install (python3, make, g++).
set -euo pipefail
packages=(frr bird2 gobgpd iproute2 arping ndisc6 tcpdump iputils-ping curl python3 make g++)
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The packages start their daemons; the tests run their own copies inside network namespaces.
for svc in frr bird gobgpd; do
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
  pkill -x "$svc" >/dev/null 2>&1 || true
done
pkill -f '/usr/lib/frr/' >/dev/null 2>&1 || true
exit 0
