#!/usr/bin/env bash
# Instructions a build executes on two fixed, deterministic runs (valgrind's cachegrind, `I refs`,
# all threads): for comparing builds on a shared machine, where the CPU time of identical runs
# varies by ±15% but these counts by ~0.2%. They count work, not time: cache misses, the kernel
# and waiting are not in them, so a change that moves them is then timed with the harness
# (`scripts/vs-duckdb.sh`, `scripts/rates.sh`).
#
#   generator: medallion run --workers 2 --source generator --events 200000 --epoch-events 16384
#   file:      the same on the first 300,000 lines of the standard file
#              (bench-results/data/standard-seed42.jsonl, made by scripts/vs-duckdb.sh)
#
#   scripts/instructions.sh [BIN ...]     (default: target/release/medallion)
#
# Needs valgrind. Prints one line per binary and run; each run takes about a minute.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
case "${1:-}" in
  --help|-h) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
command -v valgrind > /dev/null || { echo "instructions: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
bins=("$@")
[[ ${#bins[@]} -gt 0 ]] || bins=("${CARGO_TARGET_DIR:-$root/target}/release/medallion")
for bin in "${bins[@]}"; do
  [[ -x "$bin" ]] || { echo "instructions: '$bin' is not an executable file (build with cargo build --release)" >&2; exit 2; }
done
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
standard="$root/bench-results/data/standard-seed42.jsonl"
file_run=()
if [[ -s "$standard" ]]; then
  head -n 300000 "$standard" > "$tmp/std300k.jsonl"
  now="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["now"])' "$standard.meta.json")"
  file_run=(--source "file:$tmp/std300k.jsonl" --now "$now")
else
  echo "instructions: no $standard (scripts/vs-duckdb.sh makes it): the file run is skipped" >&2
fi
# The instructions of one run (its command line in "$@"); a run that fails is reported with the
# end of its output, and the script exits 1.
count() {
  local out="$tmp/out.$RANDOM"
  if ! valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$@" \
    --workers 2 --epoch-events 16384 --out "$out" --plain-progress > /dev/null 2> "$tmp/err"; then
    echo "instructions: the run failed: $*" >&2
    tail -n 15 "$tmp/err" >&2
    return 1
  fi
  rm -rf "$out"
  grep -oE 'I +refs: +[0-9,]+' "$tmp/err" | grep -oE '[0-9,]+$'
}
for bin in "${bins[@]}"; do
  n="$(count "$bin" run --source generator --events 200000)" || exit 1
  echo "$bin generator: $n instructions"
  if [[ ${#file_run[@]} -gt 0 ]]; then
    n="$(count "$bin" run "${file_run[@]}")" || exit 1
    echo "$bin file: $n instructions"
  fi
done
