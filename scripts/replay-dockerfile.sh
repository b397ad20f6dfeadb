#!/usr/bin/env bash
# Replays the Dockerfile's steps on this host (no Docker engine here), with the image's runtime:
# Node 22 and its own npm 10, both from the npm registry (scripts/node22.sh). CI runs it, so an image
# whose `npm ci` or build breaks (an npm 10 peer-dependency conflict, say) can't land.
#   build stage:    npm ci (dev toolchain; better-sqlite3 compiled for Node 22), npm run build
#   runtime stage:  npm ci --omit=dev --ignore-scripts in a separate folder, the native module copied
#                   from the build stage, dist/ config/ portal/ copied, data/ owned by the non-root user
#   then:           start it as a non-root user on Node 22, the HEALTHCHECK command, a registration,
#                   a broadcast received over MQTT, SIGTERM -> exit 0.
# Each RUN this replays is checked to still be in the Dockerfile, so the two can't drift apart silently.
# REPLAY_EXPORT_NODE_MODULES=DIR: on success, moves the build stage's node_modules (npm 10's install on
# Node 22) to DIR/node_modules, for .ci/run's Node 22 tests.
# Prints `replay-dockerfile: OK` at the end; exits non-zero with the reason on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

say() { printf 'replay-dockerfile: %s\n' "$*"; }
fail() {
  printf 'replay-dockerfile: FAILED: %s\n' "$*" >&2
  exit 1
}

# ---- the Dockerfile still says what this replays ------------------------------------------------
for line in \
  'FROM node:22-slim AS build' \
  'apt-get install -y --no-install-recommends python3 make g++' \
  'ENV SCARF_ANALYTICS=false' \
  'RUN npm ci' \
  'COPY scripts/build-if-stale.mjs ./scripts/' \
  'RUN npm run build' \
  'FROM node:22-slim AS runtime' \
  'RUN npm ci --omit=dev --ignore-scripts' \
  'COPY --from=build /app/node_modules/better-sqlite3/build/Release/better_sqlite3.node' \
  'COPY --from=build /app/dist ./dist' \
  'COPY config ./config' \
  'COPY portal ./portal' \
  'USER node' \
  'CMD ["node", "/app/dist/bin/healthcheck.js"]' \
  'CMD ["node", "--experimental-async-context-frame", "dist/main.js"]'; do
  grep -qF -- "$line" Dockerfile || fail "the Dockerfile no longer has '$line': update this replay with it"
done

# ---- Node 22 and npm 10 -------------------------------------------------------------------------
# shellcheck source=scripts/node22.sh
source scripts/node22.sh || fail "Node 22 / npm 10 not available"
node_version=$(node --version)
npm_version=$(npm --version)
case "$node_version" in v22.*) ;; *) fail "expected Node 22, got $node_version" ;; esac
case "$npm_version" in 10.*) ;; *) fail "expected npm 10, got $npm_version" ;; esac
say "Node $node_version, npm $npm_version ($(command -v node))"
export SCARF_ANALYTICS=false
# As in the image: no npm 11 `allowScripts` (npm 10 doesn't know it and runs install scripts), no audit noise.
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

# A user with no rights to the checkout, as the image's `node` user (which this host doesn't have).
run_user=${REPLAY_USER:-nobody}
id "$run_user" >/dev/null 2>&1 || fail "no user $run_user on this host (set REPLAY_USER)"
if [ "$(id -u)" -eq 0 ]; then
  as_user=(setpriv --reuid="$run_user" --regid="$(id -g "$run_user")" --clear-groups --)
else
  say "not root: the service runs as $(id -un), not as $run_user"
  as_user=()
fi

work=$(mktemp -d /tmp/wc-replay.XXXXXX)
service_pid=
cleanup() {
  if [ -n "$service_pid" ] && kill -0 "$service_pid" 2>/dev/null; then kill -KILL "$service_pid" 2>/dev/null || true; fi
  if [ "${KEEP_REPLAY:-0}" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
chmod 755 "$work"

# ---- build stage ---------------------------------------------------------------------------------
say "build stage: npm ci"
mkdir "$work/build"
cp package.json package-lock.json "$work/build/"
(cd "$work/build" && npm ci --no-audit --no-fund --loglevel=error) >"$work/build-npm-ci.log" 2>&1 ||
  { tail -40 "$work/build-npm-ci.log" >&2; fail "build stage: npm ci failed on npm $npm_version"; }
cp nest-cli.json tsconfig.json tsconfig.build.json "$work/build/"
cp -r src "$work/build/src"
mkdir "$work/build/scripts" && cp scripts/build-if-stale.mjs "$work/build/scripts/"
say "build stage: npm run build"
(cd "$work/build" && npm run build) >"$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; fail "build stage: npm run build failed"; }
native=node_modules/better-sqlite3/build/Release/better_sqlite3.node
[ -f "$work/build/$native" ] || fail "build stage: better-sqlite3 was not built ($native missing)"

# ---- runtime stage -------------------------------------------------------------------------------
say "runtime stage: npm ci --omit=dev --ignore-scripts"
app="$work/app"
mkdir "$app"
cp package.json package-lock.json "$app/"
(cd "$app" && NODE_ENV=production npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error) >"$work/runtime-npm-ci.log" 2>&1 ||
  { tail -40 "$work/runtime-npm-ci.log" >&2; fail "runtime stage: npm ci --omit=dev failed on npm $npm_version"; }
mkdir -p "$app/$(dirname "$native")"
cp "$work/build/$native" "$app/$native"
cp -r "$work/build/dist" "$app/dist"
cp -r config "$app/config"
cp -r portal "$app/portal"
mkdir -p "$app/data"
[ "$(id -u)" -ne 0 ] || chown "$run_user" "$app/data"
for dev in jest typescript @nestjs/cli; do
  [ ! -e "$app/node_modules/$dev" ] || fail "runtime stage: devDependency $dev was installed"
done
say "runtime stage: $(du -sh "$app/node_modules" | cut -f1) of node_modules"

# ---- run it as the image does --------------------------------------------------------------------
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
tls_port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
service_env=(env -i "PATH=$PATH" "HOME=/tmp" NODE_ENV=production SCARF_ANALYTICS=false "PORT=$port" HOST=127.0.0.1 PUBLIC_HOST=127.0.0.1
  "MQTT_TLS_PORT=$tls_port" MQTT_TLS_HOST=127.0.0.1 "DATA_DIR=$app/data" LOG_LEVEL=info)
say "starting node --experimental-async-context-frame dist/main.js as ${run_user} on Node $node_version, port $port"
(cd "$app" && exec "${as_user[@]}" "${service_env[@]}" node --experimental-async-context-frame dist/main.js) >"$work/service.log" 2>&1 &
service_pid=$!

# The HEALTHCHECK command, retried as Docker does during the start period (a ceiling, not a wait).
deadline=$((SECONDS + 120))
# (The image runs `node /app/dist/bin/healthcheck.js`; here the app folder is $app.)
until (cd "$app" && "${as_user[@]}" "${service_env[@]}" node "$app/dist/bin/healthcheck.js"); do
  kill -0 "$service_pid" 2>/dev/null || { tail -40 "$work/service.log" >&2; fail "the service exited during start-up"; }
  [ "$SECONDS" -lt "$deadline" ] || { tail -40 "$work/service.log" >&2; fail "the health check did not pass within 120 s"; }
  sleep 0.5
done
say "health check: healthy"
user_of_service=$(ps -o user= -p "$service_pid" | tr -d ' ')
[ "$(id -u)" -ne 0 ] || [ "$user_of_service" = "$(id -un "$run_user")" ] || fail "the service runs as $user_of_service, not $run_user"

# A registration and a broadcast, received over MQTT (mqtt.js from the runtime's own node_modules).
token() { (cd "$app" && "${as_user[@]}" "${service_env[@]}" node dist/bin/token.js "$@"); }
alice=$(token --sub alice)
svc=$(token --sub replay-service --role service)
(cd "$app" && BASE="http://127.0.0.1:$port" ALICE="$alice" SVC="$svc" node -e '
const mqtt = require("mqtt");
(async () => {
  const post = (path, token, body) => fetch(process.env.BASE + path, { method: "POST", headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const reg = await post("/v1/registrations", process.env.ALICE, { connectionType: "WEBSOCKET" });
  if (reg.status !== 201) throw new Error(`registration: ${reg.status} ${await reg.text()}`);
  const { url, connectionToken } = await reg.json();
  const client = await mqtt.connectAsync(url, { clientId: "alice", username: "alice", password: connectionToken, reconnectPeriod: 0, connectTimeout: 30000 });
  await client.subscribeAsync("webcommunicator/dev/CloudGemWebCommunicator");
  const received = new Promise((resolve) => client.on("message", (topic, payload) => resolve(JSON.parse(payload.toString()))));
  const res = await post("/v1/messages/broadcast", process.env.SVC, { channel: "CloudGemWebCommunicator", message: "hello from the replay" });
  if (res.status !== 202) throw new Error(`broadcast: ${res.status} ${await res.text()}`);
  const { messageId } = await res.json();
  const got = await Promise.race([received, new Promise((_, reject) => setTimeout(() => reject(new Error("broadcast not received within 60 s")), 60000).unref())]);
  if (got.Id !== messageId || got.Message !== "hello from the replay") throw new Error(`received ${JSON.stringify(got)}`);
  await client.endAsync();
  console.log(`replay-dockerfile: registration 201, broadcast 202, received over MQTT (${messageId})`);
})().catch((e) => { console.error(e.message); process.exit(1); });
') || { tail -40 "$work/service.log" >&2; fail "registration / broadcast"; }
# With AsyncContextFrame (the CMD's flag) a line written during a request carries the request's reqId.
grep '"msg":"client registered"' "$work/service.log" | grep -q '"reqId":' ||
  { grep 'client registered' "$work/service.log" >&2; fail "the 'client registered' line has no reqId (--experimental-async-context-frame)"; }
say "in-request log lines carry reqId"

# SIGTERM -> a clean exit 0 (tini forwards it in the image).
kill -TERM "$service_pid"
set +e
wait "$service_pid"
code=$?
set -e
service_pid=
[ "$code" -eq 0 ] || { tail -40 "$work/service.log" >&2; fail "SIGTERM: exit code $code, expected 0"; }
grep -q 'shut down cleanly' "$work/service.log" || { tail -20 "$work/service.log" >&2; fail "SIGTERM: no 'shut down cleanly' in the log"; }
say "SIGTERM: exit 0"
if [ -n "${REPLAY_EXPORT_NODE_MODULES:-}" ]; then
  mv "$work/build/node_modules" "$REPLAY_EXPORT_NODE_MODULES/node_modules"
fi
say "OK (Node $node_version, npm $npm_version)"
