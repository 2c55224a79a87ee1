#!/usr/bin/env bash
# Everything the tests and the lab need on a fresh Debian machine: Debian packages (routers, wire tools, the
# test cluster's node tools), Go (for the test cluster: Kubernetes, etcd, containerd and runc are built from
# their Go modules), and the npm dependencies, which bring Node 24 itself and build the native addon.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

echo "==> Debian packages"
as_root bash .ci/install-packages.sh

echo "==> Go toolchain"
if ! command -v go >/dev/null 2>&1; then
  # Debian's Go is older than the harness's go.mod asks for; GOTOOLCHAIN=auto then fetches the right
  # release from the Go module proxy on first use.
  as_root apt-get install -y -qq --no-install-recommends golang-go ca-certificates >/dev/null
fi
go version
(cd test/harness/go && GOTOOLCHAIN=auto GOFLAGS=-mod=readonly go mod download)
# Helm (helm template / helm lint in the deploy tests), a module of its own so it cannot move Kubernetes' versions.
(cd test/harness/helm && GOTOOLCHAIN=auto GOFLAGS=-mod=readonly go mod download)
# promtool (promtool check metrics / check rules in the metrics tests), likewise a module of its own.
(cd test/harness/promtool && GOTOOLCHAIN=auto GOFLAGS=-mod=readonly go mod download)
# The test cluster's container runtime (containerd 2, runc), a module of its own for the same reason.
(cd test/harness/runtime && GOTOOLCHAIN=auto GOFLAGS=-mod=readonly go mod download)

echo "==> npm dependencies (Node 24 comes with them)"
# `npm ci` installs exactly the lock file and never rewrites it, so a fresh clone stays clean. The lock lists
# every platform's optional packages (Biome's binaries), as npm 11 writes it, so it installs on arm64 too.
npm ci --no-audit --no-fund
node_modules/.bin/node --version
