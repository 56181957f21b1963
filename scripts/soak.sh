#!/usr/bin/env bash
# Soak run of the server example on loopback: 256 connections for DURATION
# (default 60 s), three wrk processes at once:
#   callbacks  128 connections, valid signature callbacks (fresh timestamps)
#   sessions    96 connections, warm-cache Macrofy session requests with a user token
#   bad         32 connections, requests that must be refused (4xx)
# Reports requests/s, p99 and errors per class, and the server's RSS and open
# file descriptors at start (after warm-up) and at the end (after the
# connections closed). Exits 1 when a target is missed: errors on valid
# requests, a 2xx or 5xx on a bad one, RSS at the end >= 64 MiB, or more open
# descriptors at the end than at the start.
#
# Usage: scripts/soak.sh            DURATION=20s scripts/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-60s}"
PORT="${PORT:-3910}"
GATEWAY_PORT="${GATEWAY_PORT:-3911}"
FEATURES="${FEATURES:---features client,server,gateway,redis}"
BASE="http://127.0.0.1:${PORT}"
TOKEN="soak-token"

if ! command -v wrk >/dev/null 2>&1; then
  echo "soak.sh: installing wrk (Debian package)..." >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk >/dev/null
fi

# shellcheck disable=SC2086
cargo build --release --quiet $FEATURES --example server --example macrofy_gateway

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

HOST=127.0.0.1 PORT="$GATEWAY_PORT" RUST_LOG=warn \
  ./target/release/examples/macrofy_gateway >/dev/null 2>target/soak-gateway.log &
PIDS+=($!)
HOST=127.0.0.1 PORT="$PORT" RUST_LOG=warn MACROFY_BASE_URL="http://127.0.0.1:${GATEWAY_PORT}" \
  EXAMPLE_USER_TOKENS="${TOKEN}:soak-user" \
  ./target/release/examples/server >/dev/null 2>target/soak-server.log &
SERVER_PID=$!
PIDS+=("$SERVER_PID")

# Ready when the session route answers 200 for the soak user (this also
# warms the session cache).
ready=""
for _ in $(seq 1 300); do # at most 30 s
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 -X POST \
    -H "Authorization: Bearer ${TOKEN}" "${BASE}/api/macrofy-session" || true)"
  if [ "$code" = 200 ]; then ready=1; break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited; see target/soak-server.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$ready" ] || { echo "server not ready in 30 s (last status ${code:-none})" >&2; exit 1; }

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }
fds() { find "/proc/$SERVER_PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }
rss_start="$(rss_kib)"; fds_start="$(fds)"

run_wrk() { # name connections script path
  timeout 600 wrk -t1 -c"$2" -d"$DURATION" --latency --timeout 5s -s "scripts/$3" "${BASE}$4" \
    >"target/soak-$1.out" 2>&1
}
echo "soak: ${DURATION}, 256 connections (128 callbacks, 96 sessions, 32 bad) on ${BASE}"
run_wrk callbacks 128 callback.lua /api/signature-callback &
w1=$!
TOKEN="$TOKEN" run_wrk sessions 96 session.lua /api/macrofy-session &
w2=$!
run_wrk bad 32 bad.lua /api/signature-callback &
w3=$!
wait "$w1" "$w2" "$w3"

sleep 3 # let the closed connections go
rss_end="$(rss_kib)"; fds_end="$(fds)"

failed=0
report() { # name expect(ok|refused)
  local out="target/soak-$1.out" total rps p99 non2xx sock errors
  total="$(awk '/requests in/ {print $1}' "$out")"
  rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
  p99="$(awk '$1 == "99%" {print $2}' "$out")"
  non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")"; non2xx="${non2xx:-0}"
  sock="$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$out")"; sock="${sock:-0}"
  if [ "$2" = ok ]; then
    errors=$(( non2xx + sock ))
  else
    # A refused request must get a 4xx: count 2xx/3xx and 5xx answers. The
    # server closes a connection after refusing an oversized body without
    # reading it, which wrk reports as socket errors: shown, not counted.
    local fivexx
    fivexx="$(awk '/^5xx responses:/ {print $3}' "$out")"
    errors=$(( total - non2xx + ${fivexx:-0} ))
  fi
  printf '%-10s %10s req/s   p99 %9s   requests %9s   errors %s' "$1" "$rps" "$p99" "$total" "$errors"
  if [ "$2" = refused ]; then printf '   (connections closed by the server: %s)' "$sock"; fi
  printf '\n'
  [ "$errors" -eq 0 ] || failed=1
}
report callbacks ok
report sessions ok
report bad refused
server_errors="$(grep -c -E ' ERROR |panicked' target/soak-server.log || true)"
printf 'server RSS  start %6d KiB   end %6d KiB   (target: end < 65536 KiB)\n' "$rss_start" "$rss_end"
printf 'server fds  start %6d       end %6d       (target: end <= start)\n' "$fds_start" "$fds_end"
printf 'server log  %s ERROR/panic lines\n' "$server_errors"
[ "$rss_end" -lt 65536 ] || failed=1
[ "$fds_end" -le "$fds_start" ] || failed=1
[ "$server_errors" -eq 0 ] || failed=1
if [ "$failed" -eq 0 ]; then echo "soak: all targets met"; else echo "soak: TARGET MISSED" >&2; fi
exit "$failed"
