#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs every
# test of every feature. The Redis tests start their own redis-server on a
# free loopback port and stop it; this script only makes sure one is
# installed (Debian's package). Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v "${REDIS_SERVER:-redis-server}" >/dev/null 2>&1; then
  echo "test.sh: installing redis-server (Debian package) for the Redis tests..." >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi

exec cargo test --all-features "$@"
