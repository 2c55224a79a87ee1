# Beacon's container image: one image, two components (`beacon controller`, `beacon speaker`).
#
#   docker build -t registry.example/beacon:0.1.0 .
#
# Built for linux/amd64: package-lock.json lists only that platform's optional packages (npm 11 trims the
# others), which the build stage's dev tools (TypeScript 7, Biome) need. The Node major here must match
# "engines" in package.json; test/deploy/dockerfile.test.ts checks it, and every path copied below.

# --- build: the native addon (node-gyp: python3, make, g++ are in the full bookworm image) and dist/ ------
FROM node:24-bookworm AS build
WORKDIR /app
# Dependencies first, so that a source change does not reinstall them. `npm install` rather than `npm ci`:
# npm 11 leaves other platforms' optional packages out of the lock and `npm ci` then refuses it; with the
# lock present, `npm install` installs exactly the locked versions (see scripts/setup.sh). Its install
# step is scripts/build-native.ts, which builds native/ against the headers of the `node` dev dependency.
COPY package.json package-lock.json ./
COPY scripts/build-native.ts scripts/build-native.ts
COPY native/binding.gyp native/binding.gyp
COPY native/src native/src
RUN npm install --no-audit --no-fund
# TypeScript to dist/ (tsconfig.build.json rewrites the .ts import specifiers to .js).
COPY tsconfig.json tsconfig.build.json ./
COPY src src
RUN npm run build
# Only runtime dependencies go on; the `node` package (a dev dependency) goes with the rest.
RUN npm prune --omit=dev --no-audit --no-fund

# --- runtime: slim Node 24, no compilers, no npm-installed dev tools ----------------------------------------
FROM node:24-bookworm-slim
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
