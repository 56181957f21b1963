#!/usr/bin/env bash
# Load tests on loopback with wrk. Every process it starts is stopped on exit.
#
# Usage: scripts/load.sh [TARGET...]     (default: callback sessions rss)
#
#   callback  ROUNDS (default 3) interleaved rounds of
#               baseline: examples/bench_baseline, a minimal hand-written
#                         axum handler doing the callback's work, and
#               server:   the callback route of examples/server (the
#                         crate's checks and signing),
#             both on the crate's bounded server; prints each round and the
#             median ratio server/baseline.
#   sessions  the Macrofy session route of examples/server with a warm cache,
#             in memory and on Redis (starts a local gateway and a
#             redis-server on loopback), beside one more callback run.
#   rss       the callback route at 256 connections for 20 s; the server's
#             RSS before and after.
#   node      scripts/node_baseline.js (plain Node http + crypto).
#
# wrk: THREADS (2) threads, CONNECTIONS (64) connections, DURATION (10s)
# per run. Installs wrk (and redis-server for `sessions`) from Debian when
# missing. Single runs on a 2-core machine vary by about 10%: compare
# medians of interleaved rounds, on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${PORT:-3900}"
GATEWAY_PORT="${GATEWAY_PORT:-3901}"
REDIS_PORT="${REDIS_PORT:-3902}"
CONNECTIONS="${CONNECTIONS:-64}"
DURATION="${DURATION:-10s}"
THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-3}"
BASE="http://127.0.0.1:${PORT}"
TOKEN="load-token"
TARGETS=("$@")
[ "${#TARGETS[@]}" -gt 0 ] || TARGETS=(callback sessions rss)

install() { # command package
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "load.sh: installing $2 (Debian package)..." >&2
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2" >/dev/null
}
install wrk wrk
[[ " ${TARGETS[*]} " == *" sessions "* ]] && install redis-server redis-server
cargo build --release --quiet --features client,server,gateway,redis \
  --example server --example bench_baseline --example macrofy_gateway

PIDS=()
stop_all() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}
trap stop_all EXIT

# start NAME COMMAND...: runs COMMAND in the background (logs in target/).
start() {
  local name="$1"; shift
  "$@" >/dev/null 2>"target/load-${name}.log" &
  PIDS+=($!)
  SERVER_PID=$!
}

# wait_ok URL [HEADER]: until URL answers 200 to a POST (at most 30 s).
wait_ok() {
  local code=""
  for _ in $(seq 1 300); do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 -X POST ${2:+-H "$2"} "$1" || true)"
    [ "$code" = 200 ] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited; see target/load-*.log" >&2; return 1; }
    sleep 0.1
  done
  echo "no 200 from $1 within 30 s (last: ${code:-none})" >&2
  return 1
}

# wait_listening URL: until something answers at URL (any status).
wait_listening() {
  for _ in $(seq 1 300); do
    curl -s -o /dev/null --max-time 1 -X POST "$1" -d '{}' && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited; see target/load-*.log" >&2; return 1; }
    sleep 0.1
  done
  echo "nothing listening at $1 within 30 s" >&2
  return 1
}

# bench NAME SCRIPT PATH [CONNECTIONS DURATION]: one wrk run; prints a line
# and leaves the requests/s in $RPS.
bench() {
  local out
  out="$(TOKEN="$TOKEN" timeout 120 wrk -t"$THREADS" -c"${4:-$CONNECTIONS}" -d"${5:-$DURATION}" \
    --latency --timeout 5s -s "scripts/$2" "${BASE}$3")"
  RPS="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
  local p99 non2xx sock
  p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
  non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")"
  sock="$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' <<<"$out")"
  printf '%-18s %12s req/s   p99 %9s   errors %s\n' "$1" "$RPS" "$p99" "$(( ${non2xx:-0} + ${sock:-0} ))"
}

demo_env=(env HOST=127.0.0.1 PORT="$PORT" RUST_LOG=warn)
run_server() { start server "${demo_env[@]}" "$@" ./target/release/examples/server; }
run_baseline() { start baseline "${demo_env[@]}" ./target/release/examples/bench_baseline; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }

echo "wrk: ${THREADS} threads, ${CONNECTIONS} connections, ${DURATION} per run, on 127.0.0.1"
for target in "${TARGETS[@]}"; do
  case "$target" in
    callback)
      ratios=()
      for round in $(seq 1 "$ROUNDS"); do
        run_baseline; wait_listening "${BASE}/api/signature-callback"
        bench "baseline #$round" callback.lua /api/signature-callback; base="$RPS"; stop_all
        run_server; wait_listening "${BASE}/api/signature-callback"
        bench "server #$round" callback.lua /api/signature-callback; stop_all
        ratios+=("$(awk -v s="$RPS" -v b="$base" 'BEGIN {printf "%.3f", s / b}')")
      done
      median="$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')"
      echo "callback: server/baseline per round ${ratios[*]}; median ${median}x"
      ;;
    sessions)
      start gateway env HOST=127.0.0.1 PORT="$GATEWAY_PORT" RUST_LOG=warn ./target/release/examples/macrofy_gateway
      wait_listening "http://127.0.0.1:${GATEWAY_PORT}/api/auth/connect"
      start redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no
      for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
      session_env=(MACROFY_BASE_URL="http://127.0.0.1:${GATEWAY_PORT}" EXAMPLE_USER_TOKENS="${TOKEN}:load-user")
      for store in memory redis; do
        extra=(); [ "$store" = redis ] && extra=(REDIS_URL="redis://127.0.0.1:${REDIS_PORT}/")
        run_server "${session_env[@]}" "${extra[@]}"
        wait_ok "${BASE}/api/macrofy-session" "Authorization: Bearer ${TOKEN}" # also warms the cache
        [ "$store" = memory ] && bench "callback" callback.lua /api/signature-callback
        bench "session ($store)" session.lua /api/macrofy-session
        kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
      done
      stop_all
      ;;
    rss)
      run_server; wait_listening "${BASE}/api/signature-callback"
      before="$(rss_kib)"
      bench "callback @256" callback.lua /api/signature-callback 256 20s
      sleep 2
      echo "server RSS: before ${before} KiB, after ${SERVER_PID:+$(rss_kib)} KiB (256 connections, 20 s)"
      stop_all
      ;;
    node)
      start node env PORT="$PORT" node scripts/node_baseline.js
      wait_listening "${BASE}/api/signature-callback"
      bench node callback.lua /api/signature-callback; stop_all
      ;;
    *) echo "unknown target: $target (callback, sessions, rss, node)" >&2; exit 2 ;;
  esac
done
