#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 600) and reports
# executions, coverage and crashes per target.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]      JOBS=2 scripts/fuzz.sh 600
#
# cargo-fuzz needs a nightly toolchain (libFuzzer's sanitizer flags): the
# script uses `cargo +nightly` and says what is missing. New inputs go to
# target/fuzz-corpus/<target> (seeded from the checked-in fuzz/corpus/<target>,
# which is left as is); crashes land in fuzz/artifacts/<target>/.
# The checked-in corpus is replayed on stable by `cargo test --test fuzz_corpus`.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH="${1:-600}"
shift || true
JOBS="${JOBS:-1}"

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz.sh: no nightly toolchain: cargo-fuzz needs one (rustup toolchain install nightly)." >&2
  exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz..." >&2
  cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
  TARGETS=("$@")
else
  mapfile -t TARGETS < <(cargo +nightly fuzz list)
fi

cargo +nightly fuzz build -O

# One process per target by default. With JOBS > 1, libFuzzer's fork mode
# runs JOBS processes and keeps fuzzing after a crash (-ignore_crashes), so
# one run finds more than one. (-jobs/-workers would send every process's
# output to ./fuzz-N.log files instead of the log read below.)
PARALLEL=()
if [ "$JOBS" -gt 1 ]; then
  PARALLEL=(-fork="$JOBS" -ignore_crashes=1)
fi

status=0
printf '%-18s %12s %8s %8s %s\n' target execs cov corpus crashes
for t in "${TARGETS[@]}"; do
  work="target/fuzz-corpus/$t"
  mkdir -p "$work" "fuzz/corpus/$t" "fuzz/artifacts/$t"
  log="target/fuzz-$t.log"
  before="$(find "fuzz/artifacts/$t" -type f | sort)"
  cargo +nightly fuzz run -O "$t" "$work" "fuzz/corpus/$t" -- \
    -max_total_time="$SECONDS_EACH" "${PARALLEL[@]}" -print_final_stats=1 \
    >"$log" 2>&1 || true
  new="$(comm -13 <(echo "$before") <(find "fuzz/artifacts/$t" -type f | sort) | sed '/^$/d')"
  # Executions: the final stats of a single process, else the last status
  # line (fork mode prints "#N: cov: ...").
  execs="$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{s += $2} END {print s + 0}')"
  if [ "$execs" -eq 0 ]; then
    execs="$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')"
  fi
  cov="$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}')"
  corp="$(grep -oE 'corp: [0-9]+' "$log" | tail -1 | awk '{print $2}')"
  crashes="$(printf '%s' "$new" | grep -c . || true)"
  printf '%-18s %12s %8s %8s %s\n' "$t" "${execs:-0}" "${cov:-?}" "${corp:-?}" "$crashes"
  if [ "$crashes" -gt 0 ]; then
    status=1
    printf '%s\n' "$new" | head -5 | sed 's/^/    /'
  elif ! grep -qE '^Done [0-9]+ runs|INFO: fuzzed for|^INFO: exiting' "$log"; then
    status=1
    echo "    $t did not run to the end: see $log" >&2
  fi
done
exit "$status"
