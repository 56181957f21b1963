#!/usr/bin/env bash
# Load test of the signature callback route on loopback.
#
# Usage: scripts/load.sh [server|baseline|node|all]    (default: all)
#
#   server    cargo run --release --example server        (the crate's routes and layers)
#   baseline  cargo run --release --example bench_baseline (a minimal hand-written axum handler)
#   node      node scripts/node_baseline.js                (plain Node http + crypto)
#
# Each target is started on 127.0.0.1:$PORT, hit with wrk (64 connections,
# 10 s, a lua script POSTing a valid callback with a fresh timestamp and the
# origin header), then stopped. Reports requests/s, p99 latency and errors
# (non-2xx responses + socket errors). Installs wrk from Debian if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${PORT:-3900}"
CONNECTIONS="${CONNECTIONS:-64}"
DURATION="${DURATION:-10s}"
THREADS="${THREADS:-2}"
URL="http://127.0.0.1:${PORT}/api/signature-callback"
TARGETS="${1:-all}"
[ "$TARGETS" = all ] && TARGETS="node baseline server"

if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk..." >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk
fi

if [[ " $TARGETS " == *" server "* || " $TARGETS " == *" baseline "* ]]; then
  cargo build --release --quiet --features server --example server --example bench_baseline
fi

SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
trap stop_server EXIT

wait_ready() {
  for _ in $(seq 1 300); do # at most 30 s
    if curl -s -o /dev/null --max-time 1 -X POST "$URL" -d '{}'; then return 0; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then echo "server exited" >&2; return 1; fi
    sleep 0.1
  done
  echo "server did not start within 30 s" >&2
  return 1
}

run() {
  local name="$1"; shift
  HOST=127.0.0.1 PORT="$PORT" RUST_LOG=warn "$@" >/dev/null 2>"target/load-${name}.log" &
  SERVER_PID=$!
  wait_ready
  local out
  out="$(timeout 60 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency --timeout 2s \
    -s scripts/callback.lua "$URL")"
  stop_server
  local rps p99 non2xx sock
  rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
  p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
  non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")"
  sock="$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' <<<"$out")"
  printf '%-9s %12s req/s   p99 %9s   errors %s\n' "$name" "$rps" "$p99" "$(( ${non2xx:-0} + ${sock:-0} ))"
}

echo "wrk: ${THREADS} threads, ${CONNECTIONS} connections, ${DURATION}, POST ${URL}"
for target in $TARGETS; do
  case "$target" in
    server)   run server ./target/release/examples/server ;;
    baseline) run baseline ./target/release/examples/bench_baseline ;;
    node)     run node node scripts/node_baseline.js ;;
    *) echo "unknown target: $target" >&2; exit 2 ;;
  esac
done
