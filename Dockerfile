# syntax=docker/dockerfile:1
# CI replays these steps on the host with Node 22 and npm 10 (scripts/replay-dockerfile.sh): keep the two in step.

# ---- build: compile TypeScript with the dev toolchain ----
FROM node:22-slim AS build
# better-sqlite3 compiles its native module with node-gyp when no prebuilt binary can be fetched.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# swagger-ui-dist's install-time telemetry (@scarf/scarf): off.
ENV SCARF_ANALYTICS=false
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY nest-cli.json tsconfig.json tsconfig.build.json ./
# `npm run build` stamps the build (scripts/build-if-stale.mjs) so `npm start` doesn't build again.
COPY scripts/build-if-stale.mjs ./scripts/
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies only, non-root, tini as PID 1 ----
FROM node:22-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
ENV SCARF_ANALYTICS=false
COPY package.json package-lock.json ./
# No install scripts and so no compiler here: the one native module (better-sqlite3) comes built from the
# build stage, same Node 22 ABI.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/node_modules/better-sqlite3/build/Release/better_sqlite3.node ./node_modules/better-sqlite3/build/Release/better_sqlite3.node
COPY --from=build /app/dist ./dist
COPY config ./config
# The admin portal's static files (served at /portal; mqtt.min.js comes from node_modules/mqtt).
COPY portal ./portal
# DATA_DIR for the embedded default (unused with BROKER=aws-iot STORE=dynamodb); mount a volume here to keep it.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
# HTTP (+ MQTT over WebSocket at /mqtt in embedded mode); MQTT over TLS in embedded mode.
EXPOSE 3000 8883
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "/app/dist/bin/healthcheck.js"]
# tini forwards SIGTERM to Node (graceful shutdown) and reaps zombies.
ENTRYPOINT ["/usr/bin/tini", "--"]
# AsyncContextFrame: AsyncLocalStorage without promise hooks (Node 24's default), so log lines written during a
# request carry its reqId at no cost per request (src/common/logging/request-context.ts).
CMD ["node", "--experimental-async-context-frame", "dist/main.js"]
