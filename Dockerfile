# Beacon's container image: one image, two components (`beacon controller`, `beacon speaker`).
#
#   scripts/build-image.sh                 # linux/amd64 and linux/arm64, from Debian's packages, no registry
#
# scripts/build-image.sh makes both base images locally (Debian bookworm from Debian's packages with
# mmdebstrap, plus Node from the `node` npm package's node-linux-<arch> build) and passes them as BUILD_IMAGE
# and RUNTIME_IMAGE; docs/image.md says how. The defaults are the official Node images, which have the same
# layout (Node in /usr/local), so that where a registry is reachable the file also builds with
# `docker build .` for the machine's own architecture (the official images have no cross compiler).
#
# The build stage runs on the build machine's platform and cross-compiles the native addon for the target
# (Debian's aarch64-linux-gnu / x86-64-linux-gnu compilers), so an arm64 image is built without emulation.
# The final stage only copies: no RUN, so no compiler, npm or emulator is ever needed for the target.
# The Node major of both images must match "engines" in package.json; test/deploy/image.test.ts checks it.
ARG BUILD_IMAGE=docker.io/library/node:24-bookworm
ARG RUNTIME_IMAGE=docker.io/library/node:24-bookworm-slim

# The target's base is named before the build stage: buildah 1.28 (Debian bookworm's) carries a stage's
# FROM --platform over to the FROM lines after it, and would then look for the runtime base of the build
# machine's architecture. It also leaves BUILDPLATFORM unset, so scripts/build-image.sh passes it.
FROM ${RUNTIME_IMAGE} AS runtime-base

# --- build: dependencies, the native addon for the target, dist/ ------------------------------------------
FROM --platform=$BUILDPLATFORM ${BUILD_IMAGE} AS build
WORKDIR /app
# Dependencies first, so that a source change does not reinstall them. --ignore-scripts: the only install
# scripts are the `node` dev dependency's (it downloads a second copy of Node that the image already has) and
# Beacon's own native build, which runs below for the target architecture. The CA bundle is the build
# machine's, for registries reached through a TLS-intercepting proxy; proxy variables come from the builder.
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=ca-bundle --mount=type=cache,target=/root/.npm,sharing=locked \
    if [ -s /run/secrets/ca-bundle ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca-bundle; fi; \
    npm ci --ignore-scripts --no-audit --no-fund
# The addon, for TARGETARCH (Docker's names: amd64, arm64), against the headers of the image's own Node.
ARG TARGETARCH
COPY scripts/build-native.ts scripts/build-native.ts
COPY native/binding.gyp native/binding.gyp
COPY native/src native/src
RUN case "$TARGETARCH" in amd64|"") arch=x64 ;; *) arch="$TARGETARCH" ;; esac; \
    BEACON_NODEDIR=/usr/local npm_config_arch="$arch" node scripts/build-native.ts
# TypeScript to dist/ (tsconfig.build.json rewrites the .ts import specifiers to .js), then only the runtime
# dependencies stay: they are plain JavaScript, so the build platform's node_modules serves any target.
COPY tsconfig.json tsconfig.build.json ./
COPY src src
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# --- runtime: Debian minbase and Node 24, no compilers, no npm-installed dev tools ------------------------
FROM runtime-base
WORKDIR /app
ENV NODE_ENV=production
# package.json marks dist/ as ES modules ("type": "module").
COPY --from=build /app/package.json /app/package.json
COPY --from=build /app/node_modules /app/node_modules
COPY --from=build /app/dist /app/dist
COPY --from=build /app/native/build/Release/beacon_native.node /app/native/build/Release/beacon_native.node
# bin/beacon runs dist/cli/main.js with the image's Node when src/ is absent, as it is here.
COPY bin/beacon /app/bin/beacon
# Non-root by default: the controller needs no privilege. The speaker's DaemonSet runs it as uid 0 with
# every capability dropped but NET_RAW (see deploy/speaker.yaml for why uid 0).
USER 65532:65532
ENTRYPOINT ["/app/bin/beacon"]
