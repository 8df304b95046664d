#!/usr/bin/env bash
# Soak run: a `medallion emulator` fed at a fixed rate by `medallion produce --rate`, read by a
# 2-worker pipeline (`--compact-every 1m`) for a fixed time, with the pipeline's RSS,
# open files, data files on disk and events read sampled every --interval seconds. Writes
# bench-results/soak-<stamp>.csv and .svg (three panels over time) and prints a verdict: RSS and
# open files are "flat" when the mean of the last third of the samples is within 15% (RSS) / 10
# files (open files) of the middle third's (the first third is warm-up). Exit code 1 if not flat
# or if the pipeline failed (with --report-only, only if the pipeline failed: a 1-minute run, as
# in CI, is too short for a verdict).
#
#   scripts/soak.sh [--minutes 30] [--rate 20000] [--interval 10] [--views none] [--report-only]
#                   [--horizon-min 120] [--out DIR] [-- MORE RUN OPTIONS]
#
# --views (default none) and --horizon-min go to `medallion run`. The views are materialized over
# the whole history (station_hourly holds every station-hour ever seen), so with views on, memory
# grows with the event time covered by design; the default soak measures everything else.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
report_only=0 minutes=30 rate=20000 interval=10 outdir="$root/bench-results" views=none horizon=120
while [[ $# -gt 0 ]]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --interval) interval="$2"; shift 2 ;;
    --out) outdir="$2"; shift 2 ;;
    --views) views="$2"; shift 2 ;;
    --report-only) report_only=1; shift ;;
    --horizon-min) horizon="$2"; shift 2 ;;
    --) shift; break ;;
    --help|-h) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "soak.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
bin="${MEDALLION_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/medallion}"
[[ -x "$bin" ]] || (cd "$root" && cargo build --release --quiet)
mkdir -p "$outdir"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

"$bin" emulator --port 0 --hub weather:8 > "$work/emulator.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q '^Endpoint=' "$work/emulator.log" && break; sleep 0.1; done
cs="$(grep '^Endpoint=' "$work/emulator.log")"
events=$(( rate * minutes * 60 ))
"$bin" produce --hub weather --events "$events" --rate "$rate" --connection-string "$cs" \
  > "$work/produce.log" 2>&1 &
pids+=($!)
"$bin" run --workers 2 --source eventhub --hub weather --connection-string "$cs" \
  --stop-when-idle 5 --compact-every 1m --plain-progress --out "$work/out" \
  --views "$views" --horizon-min "$horizon" "$@" \
  > "$work/run.log" 2>&1 &
run_pid=$!
pids+=($run_pid)

csv="$outdir/soak-$stamp.csv"
echo "seconds,rss_mb,open_files,data_files,events_read" > "$csv"
start=$(date +%s)
echo "soak.sh: $minutes min at $rate events/s; sampling every $interval s into $csv" >&2
while kill -0 "$run_pid" 2>/dev/null; do
  now=$(( $(date +%s) - start ))
  rss=$(grep -m1 '^VmRSS' "/proc/$run_pid/status" 2>/dev/null | tr -s ' \t' ' ' | cut -d' ' -f2 || true)
  if [[ -n "$rss" ]]; then rss=$(( rss / 1024 )); fi
  fds=$(ls "/proc/$run_pid/fd" 2>/dev/null | wc -l || true)
  files=$(find "$work/out" -name '*.parquet' 2>/dev/null | wc -l || true)
  read_events=$(grep -oE '[0-9]+(/[0-9]+)? events read' "$work/run.log" | tail -1 | grep -oE '^[0-9]+' || true)
  if [[ -n "$rss" ]]; then echo "$now,$rss,$fds,$files,${read_events:-0}" >> "$csv"; fi
  sleep "$interval"
done
wait "$run_pid" && run_ok=1 || run_ok=0
[[ $run_ok -eq 1 ]] || { echo "soak.sh: the pipeline failed:" >&2; tail -20 "$work/run.log" >&2; }

python3 "$root/scripts/soak_report.py" "$csv" "${csv%.csv}.svg" "$minutes" "$rate" "$run_ok" "$report_only"
