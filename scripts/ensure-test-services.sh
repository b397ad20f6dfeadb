#!/usr/bin/env bash
# Makes sure the services the tests talk to are there; idempotent, safe to run again. `npm test` runs it
# first (package.json "pretest"), so a fresh machine needs no other command.
#  - mosquitto_sub / mosquitto_pub (e2e tests over mutual TLS): installs mosquitto-clients when missing;
#  - the mosquitto server binary (a test starts its own on a free port): installs mosquitto when missing;
#  - Chromium at /usr/bin/chromium (the portal's browser test): installs Debian's chromium when missing;
#  - RabbitMQ on 127.0.0.1:5672, guest/guest (npm run test:service): starts it when the port doesn't
#    answer, installing Debian's rabbitmq-server first when it isn't there;
#  - Redis on 127.0.0.1:6379 (the embedded-cluster tests, test/cluster/, also start redis-servers of
#    their own on free ports): installs Debian's redis-server when missing, starts it when the port
#    doesn't answer (nothing on disk, as the machine's own start command does).
# Prints what it did; exits non-zero with the reason when it can't.
set -euo pipefail

RABBITMQ_HOST=127.0.0.1
RABBITMQ_PORT=5672
STARTUP_TIMEOUT_SECONDS=${RABBITMQ_STARTUP_TIMEOUT_SECONDS:-120}

say() { printf 'ensure-test-services: %s\n' "$*"; }
fail() { printf 'ensure-test-services: ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"; else return 1; fi
}

apt_updated=0
# Installs Debian packages; returns non-zero (rather than exiting) when apt-get install fails.
apt_install() {
  command -v apt-get >/dev/null 2>&1 || fail "apt-get not found: install $* yourself"
  if [ "$apt_updated" -eq 0 ]; then
    say "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || fail "apt-get update failed (root or sudo needed)"
    apt_updated=1
  fi
  say "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# port_open [host port]: whether something accepts TCP connections there (default: RabbitMQ's).
port_open() {
  (exec 3<>"/dev/tcp/${1:-$RABBITMQ_HOST}/${2:-$RABBITMQ_PORT}") 2>/dev/null
}

# ensure_installed LABEL PATH PACKAGE...: installs PACKAGE... from Debian's packages when PATH (the file the
# tests run) is not there.
ensure_installed() {
  local label=$1 path=$2
  shift 2
  if [ -x "$path" ]; then
    say "$label: present ($path)"
    return 0
  fi
  apt_install "$@" || fail "apt-get install $* failed"
  [ -x "$path" ] || fail "$path still missing after installing $*"
  say "$label: installed"
}

# apt_install_unstarted PACKAGE: installs a server package without letting its maintainer scripts start it
# (no init system in containers; this script starts the server itself). A maintainer script failing only
# because it could not start the service still leaves a usable install: the caller checks the install.
apt_install_unstarted() {
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ] && [ "$(id -u)" -eq 0 ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
  fi
  apt_install "$1" || say "apt-get reported an error installing $1; checking the install"
  if [ "$created_policy" -eq 1 ]; then rm -f "$policy"; fi
}

# ---- mosquitto clients ------------------------------------------------------------------------
if command -v mosquitto_sub >/dev/null 2>&1 && command -v mosquitto_pub >/dev/null 2>&1; then
  say "mosquitto clients: present ($(command -v mosquitto_sub))"
else
  apt_install mosquitto-clients || fail "apt-get install mosquitto-clients failed"
  command -v mosquitto_sub >/dev/null 2>&1 || fail "mosquitto_sub still missing after installing mosquitto-clients"
  say "mosquitto clients: installed"
fi

# ---- mosquitto server (test/events-out-external-mqtt.e2e-spec.ts starts one of its own on a free port) ----
ensure_installed "mosquitto server" /usr/sbin/mosquitto mosquitto

# ---- Chromium (test/portal.e2e-spec.ts drives the portal in headless Chromium via playwright-core) ----
ensure_installed chromium /usr/bin/chromium chromium fonts-liberation

# ---- RabbitMQ ---------------------------------------------------------------------------------
if port_open; then
  say "RabbitMQ: already answering on $RABBITMQ_HOST:$RABBITMQ_PORT"
else
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    apt_install_unstarted rabbitmq-server
    command -v rabbitmq-server >/dev/null 2>&1 || fail "rabbitmq-server could not be installed"
    say "RabbitMQ: installed $(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null || echo '')"
  fi
  say "RabbitMQ: starting (rabbitmq-server -detached)"
  as_root rabbitmq-server -detached >/dev/null 2>&1 || fail "rabbitmq-server -detached failed; see /var/log/rabbitmq/"
  deadline=$((SECONDS + STARTUP_TIMEOUT_SECONDS))
  until port_open; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      fail "RabbitMQ did not answer on $RABBITMQ_HOST:$RABBITMQ_PORT within ${STARTUP_TIMEOUT_SECONDS}s; see /var/log/rabbitmq/"
    fi
    sleep 1
  done
  say "RabbitMQ: answering on $RABBITMQ_HOST:$RABBITMQ_PORT"
fi

# The port answers before the broker is fully booted; the tests also need rabbitmqctl (close_all_connections).
if ! as_root rabbitmqctl -q await_startup --timeout "$STARTUP_TIMEOUT_SECONDS" >/dev/null 2>&1; then
  fail "rabbitmqctl can't reach the RabbitMQ node (await_startup failed): the service tests need it"
fi
say "RabbitMQ: booted, rabbitmqctl works"

# ---- Redis ------------------------------------------------------------------------------------
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
if ! command -v redis-server >/dev/null 2>&1; then
  apt_install_unstarted redis-server
  command -v redis-server >/dev/null 2>&1 || fail "redis-server could not be installed"
  say "Redis: installed $(redis-server --version | awk '{print $3}')"
fi
if port_open "$REDIS_HOST" "$REDIS_PORT"; then
  say "Redis: already answering on $REDIS_HOST:$REDIS_PORT"
else
  say "Redis: starting"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null || fail "redis-server failed to start; see /var/log/redis/ci.log"
  deadline=$((SECONDS + 30))
  until port_open "$REDIS_HOST" "$REDIS_PORT"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "Redis did not answer on $REDIS_HOST:$REDIS_PORT within 30s"
    sleep 0.2
  done
  say "Redis: answering on $REDIS_HOST:$REDIS_PORT"
fi
