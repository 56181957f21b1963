#!/usr/bin/env bash
# Secret rotation under load, on the real server example (release build):
#
#   1. start examples/server with its secrets in files (UTILSIO_APP_SECRET_FILE,
#      UTILSIO_APP_SALT_FILE, MACROFY_APP_SECRET_FILE);
#   2. run wrk on the signature callback (scripts/callback.lua) for DURATION s;
#   3. halfway, rewrite the secret files and send SIGHUP;
#   4. report wrk's errors (must be 0), check the reload was logged, and check
#      with curl that the callback and the Macrofy signature now match the new
#      secrets (expected values from the crate's CLI) and not the old ones;
#   5. a broken secret file + SIGHUP: the reload is refused, the new key stays.
#
# Usage: scripts/rotate.sh   (env: PORT=3917 DURATION=10 CONNECTIONS=32 THREADS=2)
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${PORT:-3917}"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-2}"
APP_ID="rotate-app-id"
MACROFY_APP_ID="rotateapp01"
BASE="http://127.0.0.1:$PORT"

for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "rotate.sh needs $tool (apt-get install $tool)" >&2; exit 2; }
done

cargo build --release --quiet --features client,server --example server
cargo build --release --quiet --features cli --bin tower-signing
CLI=./target/release/tower-signing

DIR="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$DIR"
}
trap cleanup EXIT

# Writes $2 to the file $1 atomically (a new file renamed over the old, as a
# secrets manager does), with the trailing newline `echo` adds.
put() { echo "$2" >"$1.tmp" && mv "$1.tmp" "$1"; }

OLD_SECRET="old-secret-$RANDOM$RANDOM"; OLD_SALT="00112233445566778899aabbccddeeff"
NEW_SECRET="new-secret-$RANDOM$RANDOM"; NEW_SALT="ffeeddccbbaa99887766554433221100"
OLD_MACROFY="old-macrofy-$RANDOM$RANDOM"; NEW_MACROFY="new-macrofy-$RANDOM$RANDOM"
put "$DIR/secret" "$OLD_SECRET"
put "$DIR/salt" "$OLD_SALT"
put "$DIR/macrofy" "$OLD_MACROFY"

HOST=127.0.0.1 PORT="$PORT" UTILSIO_APP_ID="$APP_ID" UTILSIO_REQUIRE_HTTPS=false \
  UTILSIO_APP_SECRET_FILE="$DIR/secret" UTILSIO_APP_SALT_FILE="$DIR/salt" \
  MACROFY_APP_ID="$MACROFY_APP_ID" MACROFY_APP_SECRET_FILE="$DIR/macrofy" \
  ./target/release/examples/server >"$DIR/server.out" 2>"$DIR/server.log" &
SERVER_PID=$!
for _ in $(seq 100); do
  grep -q "listening on" "$DIR/server.out" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$DIR/server.log" >&2; exit 1; }
  sleep 0.1
done
grep -q "listening on" "$DIR/server.out" || { echo "server did not start" >&2; exit 1; }

# One callback at a fixed timestamp: prints the signature the server answers.
callback() {
  curl -sf --max-time 5 -X POST "$BASE/api/signature-callback" \
    -H 'X-utilsio-Origin: utilsio.dev' -H 'Content-Type: application/json' \
    -d "{\"deviceId\":\"rotate-device\",\"appId\":\"$APP_ID\",\"additionalData\":\"0.5\",\"timestamp\":$1}" |
    sed -E 's/.*"signature":"([0-9a-f]+)".*/\1/'
}
# What the CLI signs for the same callback with secret $1 and salt $2.
expected_callback() {
  UTILSIO_APP_SECRET="$1" UTILSIO_APP_SALT="$2" "$CLI" utilsio sign --device-id rotate-device \
    --app-id "$APP_ID" --timestamp "$3" --additional-data 0.5
}
macrofy_signature() {
  curl -sf --max-time 5 -X POST "$BASE/api/macrofy-signature" \
    -H 'Authorization: Bearer demo-token-alice' |
    sed -E 's/.*"signature":"([0-9a-f]+)".*/\1/'
}
expected_macrofy() { MACROFY_APP_SECRET="$1" "$CLI" macrofy sign --user-id alice; }

FAIL=0
check() { # check NAME GOT WANT
  if [ "$2" = "$3" ]; then echo "ok: $1"; else echo "FAIL: $1" >&2; FAIL=1; fi
}

TS=$(date +%s)
check "callback signed with the old secret before the reload" \
  "$(callback "$TS")" "$(expected_callback "$OLD_SECRET" "$OLD_SALT" "$TS")"
check "macrofy signature with the old secret before the reload" \
  "$(macrofy_signature)" "$(expected_macrofy "$OLD_MACROFY")"

echo "wrk: $THREADS threads, $CONNECTIONS connections, ${DURATION}s on the callback; SIGHUP at $((DURATION / 2))s"
APP_ID="$APP_ID" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency \
  -s scripts/callback.lua "$BASE/api/signature-callback" >"$DIR/wrk.out" 2>&1 &
WRK_PID=$!
sleep "$((DURATION / 2))"
put "$DIR/secret" "$NEW_SECRET"
put "$DIR/salt" "$NEW_SALT"
put "$DIR/macrofy" "$NEW_MACROFY"
kill -HUP "$SERVER_PID"
wait "$WRK_PID"

cat "$DIR/wrk.out"
REQUESTS=$(awk '/requests in/ {print $1}' "$DIR/wrk.out")
NON_2XX=$(awk -F': ' '/Non-2xx or 3xx responses/ {print $2}' "$DIR/wrk.out")
SOCKET=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$DIR/wrk.out")
ERRORS=$(( ${NON_2XX:-0} + ${SOCKET:-0} ))
echo "wrk: $REQUESTS requests, $ERRORS failed (non-2xx ${NON_2XX:-0}, socket errors ${SOCKET:-0})"
check "0 failed requests during the rotation" "$ERRORS" "0"

grep -q "utilsio key reloaded for app $APP_ID" "$DIR/server.log" && echo "ok: utilsio reload logged" ||
  { echo "FAIL: no utilsio reload in the log" >&2; FAIL=1; }
grep -q "macrofy key reloaded for app $MACROFY_APP_ID" "$DIR/server.log" && echo "ok: macrofy reload logged" ||
  { echo "FAIL: no macrofy reload in the log" >&2; FAIL=1; }

TS=$(date +%s)
AFTER=$(callback "$TS")
check "callback signed with the new secret after the reload" \
  "$AFTER" "$(expected_callback "$NEW_SECRET" "$NEW_SALT" "$TS")"
if [ "$AFTER" = "$(expected_callback "$OLD_SECRET" "$OLD_SALT" "$TS")" ]; then
  echo "FAIL: still signed with the old secret" >&2; FAIL=1
fi
check "macrofy signature with the new secret after the reload" \
  "$(macrofy_signature)" "$(expected_macrofy "$NEW_MACROFY")"

# A broken file: the reload is refused (logged as a sentence, no secret) and
# the new key stays in use.
put "$DIR/salt" "not-hex-salt"
kill -HUP "$SERVER_PID"
for _ in $(seq 50); do
  grep -q "utilsio key not reloaded" "$DIR/server.log" && break
  sleep 0.1
done
grep "utilsio key not reloaded" "$DIR/server.log" | tail -1 | sed 's/\x1b\[[0-9;]*m//g'
grep -q "utilsio key not reloaded" "$DIR/server.log" || { echo "FAIL: failed reload not logged" >&2; FAIL=1; }
if grep -q -e "$NEW_SECRET" -e "$OLD_SECRET" -e "not-hex-salt" "$DIR/server.log"; then
  echo "FAIL: a secret is in the log" >&2; FAIL=1
fi
TS=$(date +%s)
check "after a failed reload the key in use stays" \
  "$(callback "$TS")" "$(expected_callback "$NEW_SECRET" "$NEW_SALT" "$TS")"

exit "$FAIL"
