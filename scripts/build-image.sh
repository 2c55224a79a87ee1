#!/usr/bin/env bash
# Builds Beacon's container image for linux/amd64 and linux/arm64 without any registry (see docs/image.md):
#   scripts/build-image.sh [--arch amd64,arm64] [--pod-images] [--refresh-base]
# Needs root (mmdebstrap, buildah) and the Debian packages that scripts/setup.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node_modules/.bin/node scripts/build-image.ts "$@"
