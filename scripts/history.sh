#!/usr/bin/env bash
# Restart cost against the history in the tables (issue 25): for each history size, a run of the
# generator source over that many events into a fresh --out, then a restart of the same command
# with 100K more events to read. Prints, per history: the run's wall time and peak RSS, and the
# restart's wall time, peak RSS and what its restore read of silver (files, rows, from its log).
#
#   scripts/history.sh [--histories 2000000,20000000] [--new 100000] [--workers 2] [--out DIR]
#
# Targets (issue 25): the 20M run's peak RSS <= 1.15 x the 2M run's; the restart's peak RSS
# <= 1.2 x the 2M run's and its wall time <= 10 s, flat from 2M to 20M.
# Writes bench-results/history-<timestamp>.jsonl (one JSON object per history).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
histories="2000000,20000000" new=100000 workers=2 outdir="$root/bench-results"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --histories) histories="$2"; shift 2 ;;
    --new) new="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --out) outdir="$2"; shift 2 ;;
    --help|-h) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "history: unknown option '$1'" >&2; exit 2 ;;
  esac
done
bin="${MEDALLION_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/medallion}"
if [[ -z "${MEDALLION_BIN:-}" ]]; then
  (cd "$root" && cargo build --release --quiet --bin medallion)
fi
mkdir -p "$outdir"
results="$outdir/history-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# measure EVENTS OUT LOG -> "wall_s peak_mb"
measure() {
  local events="$1" out="$2" log="$3"
  /usr/bin/time -f '%e %M' -o "$work/time" "$bin" run --source generator --events "$events" \
    --workers "$workers" --out "$out" --plain-progress >"$log" 2>&1 \
    || { echo "history: medallion run failed, see $log:" >&2; tail -20 "$log" >&2; exit 1; }
  awk '{ printf "%s %.0f\n", $1, $2 / 1024 }' "$work/time"
}

printf '| history | run: wall, peak RSS | restart with %s new: wall, peak RSS | restore read of silver |\n' "$new"
printf '|---|---|---|---|\n'
IFS=, read -ra sizes <<<"$histories"
for h in "${sizes[@]}"; do
  out="$work/out-$h"
  read -r run_s run_mb < <(measure "$h" "$out" "$work/run-$h.log")
  read -r re_s re_mb < <(measure "$((h + new))" "$out" "$work/restart-$h.log")
  read_line="$(grep -o 'restore read silver: [0-9]* of [0-9]* files, [0-9]* rows' "$work/restart-$h.log" | head -1 || true)"
  files="$(sed -E 's/.*: ([0-9]+) of.*/\1/' <<<"$read_line")"
  total="$(sed -E 's/.* of ([0-9]+) files.*/\1/' <<<"$read_line")"
  rows="$(sed -E 's/.*files, ([0-9]+) rows/\1/' <<<"$read_line")"
  printf '| %s events | %s s, %s MB | %s s, %s MB | %s of %s files, %s rows |\n' \
    "$h" "$run_s" "$run_mb" "$re_s" "$re_mb" "${files:-?}" "${total:-?}" "${rows:-?}"
  printf '{"history":%s,"new":%s,"workers":%s,"run_wall_s":%s,"run_peak_mb":%s,"restart_wall_s":%s,"restart_peak_mb":%s,"restore_silver_files":%s,"silver_files":%s,"restore_silver_rows":%s}\n' \
    "$h" "$new" "$workers" "$run_s" "$run_mb" "$re_s" "$re_mb" "${files:-null}" "${total:-null}" "${rows:-null}" >>"$results"
  rm -rf "$out"
done
echo "history: results in $results"
