# syntax=docker/dockerfile:1

# ---- build: compile TypeScript with the dev toolchain ----
FROM node:22-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY nest-cli.json tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies only, non-root, tini as PID 1 ----
FROM node:22-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
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
CMD ["node", "dist/main.js"]
