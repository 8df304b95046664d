#!/usr/bin/env bash
# Soak run: a `medallion emulator` fed at a fixed rate by `medallion produce --rate`, read by a
# 2-worker pipeline (`--compact-every 1m`) for a fixed time, with the pipeline's RSS,
# open files, data files on disk, events read and disk used (all, and the tables' logs) sampled every --interval seconds, and every
# epoch's commit duration (all tables) from its log. Writes bench-results/soak-<stamp>.csv,
# soak-<stamp>-commits.csv and .svg (four panels over time) and prints a verdict: "flat" when the
# mean RSS of the last third of the samples is within 5% of the middle third's (the first third
# is warm-up), open files within 10, and the p99 epoch commit duration of the last third at most
# 1.2 x the middle third's. Exit code 1 if not flat or if the pipeline failed (with
# --report-only, only if the pipeline failed, and no verdict is printed, only the RSS trend: a
# 1-minute run, as in CI, is too short for one).
#
#   scripts/soak.sh [--minutes 30] [--rate 20000] [--interval 10] [--views all] [--report-only]
#                   [--horizon-min 120] [--retention 10m] [--out DIR] [-- MORE RUN OPTIONS]
#
# --views (default all) and --horizon-min go to `medallion run`; --retention is its
# --vacuum-retention (with --vacuum-force): replaced files, log entries and tombstones older than
# this go, so the tables' storage and checkpoints reach their steady state after 10 minutes
# rather than after the default week (an hour's soak at 15K/s otherwise writes ~80 GB). The producer's 10,000 stations
# report once a minute of event time each, so at 15,000 events/s event time runs 90x faster than
# the clock: an hour's soak covers days of station-hours and quality windows, which leave memory
# once past the lateness (issue 25).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
report_only=0 minutes=30 rate=20000 interval=10 outdir="$root/bench-results" views=all horizon=120 retention=10m
while [[ $# -gt 0 ]]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --interval) interval="$2"; shift 2 ;;
    --out) outdir="$2"; shift 2 ;;
    --views) views="$2"; shift 2 ;;
    --report-only) report_only=1; shift ;;
    --horizon-min) horizon="$2"; shift 2 ;;
    --retention) retention="$2"; shift 2 ;;
    --) shift; break ;;
    --help|-h) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "soak.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
bin="${MEDALLION_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/medallion}"
[[ -x "$bin" ]] || (cd "$root" && cargo build --release --quiet)
mkdir -p "$outdir"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
work="$(mktemp -d)"
pids=()
# SOAK_KEEP=1 keeps the tables and logs (the path is printed) for a look afterwards.
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [[ "${SOAK_KEEP:-0}" == 1 ]]; then echo "soak.sh: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# The emulator keeps 3 minutes of events (Event Hubs' retention, shortened): an hour at 15K/s
# would otherwise hold ~34 GB of events in its memory.
"$bin" emulator --port 0 --hub weather:8 --retention 3m > "$work/emulator.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q '^Endpoint=' "$work/emulator.log" && break; sleep 0.1; done
cs="$(grep '^Endpoint=' "$work/emulator.log")"
events=$(( rate * minutes * 60 ))
"$bin" produce --hub weather --events "$events" --rate "$rate" --connection-string "$cs" \
  > "$work/produce.log" 2>&1 &
pids+=($!)
RUST_LOG="${RUST_LOG:-medallion=info,medallion::telemetry::events=debug,buoyant_kernel::snapshot=off,warn}" \
"$bin" run --workers 2 --source eventhub --hub weather --connection-string "$cs" \
  --stop-when-idle 5 --compact-every 1m --plain-progress --out "$work/out" \
  --views "$views" --horizon-min "$horizon" --vacuum-retention "$retention" --vacuum-force "$@" \
  > "$work/run.log" 2>&1 &
run_pid=$!
pids+=($run_pid)

csv="$outdir/soak-$stamp.csv"
echo "seconds,rss_mb,open_files,data_files,events_read,disk_mb,log_mb" > "$csv"
start=$(date +%s)
echo "soak.sh: $minutes min at $rate events/s; sampling every $interval s into $csv" >&2
while kill -0 "$run_pid" 2>/dev/null; do
  now=$(( $(date +%s) - start ))
  rss=$(grep -m1 '^VmRSS' "/proc/$run_pid/status" 2>/dev/null | tr -s ' \t' ' ' | cut -d' ' -f2 || true)
  if [[ -n "$rss" ]]; then rss=$(( rss / 1024 )); fi
  fds=$(ls "/proc/$run_pid/fd" 2>/dev/null | wc -l || true)
  files=$(find "$work/out" -name '*.parquet' 2>/dev/null | wc -l || true)
  read_events=$(grep -oE '[0-9]+(/[0-9]+)? events read' "$work/run.log" | tail -1 | grep -oE '^[0-9]+' || true)
  disk=$(du -sm "$work/out" 2>/dev/null | cut -f1 || true)
  logs=$(du -smc "$work"/out/*/_delta_log 2>/dev/null | tail -1 | cut -f1 || true)
  if [[ -n "$rss" ]]; then echo "$now,$rss,$fds,$files,${read_events:-0},${disk:-0},${logs:-0}" >> "$csv"; fi
  sleep "$interval"
done
wait "$run_pid" && run_ok=1 || run_ok=0
# Where the disk went: each table's data files and its log, at the end.
{ echo "table data_mb log_mb log_files"
  for t in "$work"/out/*/; do
    [[ -d "$t/_delta_log" ]] || continue
    echo "$(basename "$t") $(du -sm --exclude=_delta_log "$t" | cut -f1) $(du -sm "$t/_delta_log" | cut -f1) $(ls "$t/_delta_log" | wc -l)"
  done; } | column -t > "${csv%.csv}-disk.txt" 2>/dev/null || true
cat "${csv%.csv}-disk.txt" >&2 || true
[[ $run_ok -eq 1 ]] || { echo "soak.sh: the pipeline failed:" >&2; tail -20 "$work/run.log" >&2; }

# Each epoch's commit duration, from the run's "epoch committed" lines (seconds since the first).
commits="${csv%.csv}-commits.csv"
python3 - "$work/run.log" "$commits" <<'PY'
import re, sys, datetime
out = open(sys.argv[2], "w")
out.write("seconds,commit_ms\n")
t0 = None
for line in open(sys.argv[1], errors="replace"):
    if "epoch committed" not in line:
        continue
    m = re.search(r"millis=([0-9.]+)", line)
    ts = re.match(r"(\S+?)Z", line)
    if not (m and ts):
        continue
    t = datetime.datetime.fromisoformat(ts.group(1)[:26]).timestamp()
    t0 = t if t0 is None else t0
    out.write(f"{t - t0:.3f},{m.group(1)}\n")
PY
python3 "$root/scripts/soak_report.py" "$csv" "${csv%.csv}.svg" "$minutes" "$rate" "$run_ok" "$report_only" "$commits"
