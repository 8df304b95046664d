#!/usr/bin/env bash
# Soak run: a `medallion emulator` fed at a fixed rate by `medallion produce --rate`, read by a
# 2-worker pipeline (all views, `--compact-every 1m`) for a fixed time, with the pipeline's RSS,
# open files, data files on disk and events read sampled every --interval seconds. Writes
# bench-results/soak-<stamp>.csv and .svg (three panels over time) and prints a verdict: RSS and
# open files are "flat" when the mean of the last third of the samples is within 15% (RSS) / 10
# files (open files) of the middle third's (the first third is warm-up). Exit code 1 if not flat
# or if the pipeline failed.
#
#   scripts/soak.sh [--minutes 30] [--rate 20000] [--interval 10] [--views none]
#                   [--horizon-min 120] [--out DIR] [-- MORE RUN OPTIONS]
#
# --views (default none) and --horizon-min go to `medallion run`. The views are materialized over
# the whole history (station_hourly holds every station-hour ever seen), so with views on, memory
# grows with the event time covered by design; the default soak measures everything else.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
minutes=30 rate=20000 interval=10 outdir="$root/bench-results" views=none horizon=120
while [[ $# -gt 0 ]]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --interval) interval="$2"; shift 2 ;;
    --out) outdir="$2"; shift 2 ;;
    --views) views="$2"; shift 2 ;;
    --horizon-min) horizon="$2"; shift 2 ;;
    --) shift; break ;;
    --help|-h) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "soak.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
bin="${MEDALLION_BIN:-$root/target/release/medallion}"
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

python3 - "$csv" "${csv%.csv}.svg" "$minutes" "$rate" "$run_ok" <<'PY'
import csv, sys
path, svg_path, minutes, rate, run_ok = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] == "1"
rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(open(path))]
if len(rows) < 3:
    sys.exit(f"soak.sh: only {len(rows)} samples")
third = len(rows) // 3
mid, last = rows[third:2 * third], rows[2 * third:]
mean = lambda rs, k: sum(r[k] for r in rs) / max(len(rs), 1)
rss_growth = mean(last, "rss_mb") / max(mean(mid, "rss_mb"), 1e-9) - 1
fd_growth = mean(last, "open_files") - mean(mid, "open_files")
flat = rss_growth <= 0.15 and fd_growth <= 10
panels = [("rss_mb", "RSS (MB)"), ("open_files", "open files"), ("data_files", "Parquet files on disk")]
w, h, pad = 720, 170, 45
out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h * len(panels) + 30}" font-family="sans-serif" font-size="11">',
       f'<text x="5" y="15">medallion soak: {minutes} min at {rate} events/s, 2 workers, --compact-every 1m</text>']
tmax = max(r["seconds"] for r in rows) or 1
for i, (key, label) in enumerate(panels):
    y0 = 30 + i * h
    vmax = max(r[key] for r in rows) * 1.1 or 1
    pts = " ".join(f'{pad + (w - pad - 10) * r["seconds"] / tmax:.1f},{y0 + h - 25 - (h - 40) * r[key] / vmax:.1f}' for r in rows)
    out.append(f'<text x="5" y="{y0 + 12}">{label} (max {vmax / 1.1:.0f})</text>')
    out.append(f'<line x1="{pad}" y1="{y0 + h - 25}" x2="{w - 10}" y2="{y0 + h - 25}" stroke="#999"/>')
    out.append(f'<polyline fill="none" stroke="#4878a8" stroke-width="1.5" points="{pts}"/>')
    out.append(f'<text x="{w - 60}" y="{y0 + h - 10}">{tmax:.0f} s</text>')
out.append("</svg>")
open(svg_path, "w").write("\n".join(out))
print(f"| soak | samples | RSS MB first/middle/last third | open files middle/last | Parquet files at end | events read | verdict |")
print(f"|---|---|---|---|---|---|---|")
first = rows[:third] or rows[:1]
print(f"| {minutes} min at {rate}/s | {len(rows)} | {mean(first, 'rss_mb'):.0f} / {mean(mid, 'rss_mb'):.0f} / {mean(last, 'rss_mb'):.0f} "
      f"| {mean(mid, 'open_files'):.0f} / {mean(last, 'open_files'):.0f} | {rows[-1]['data_files']:.0f} | {rows[-1]['events_read']:.0f} "
      f"| {'flat' if flat else 'GROWING'}{'' if run_ok else ', run FAILED'} |")
print(f"wrote {path} and {svg_path}", file=sys.stderr)
sys.exit(0 if flat and run_ok else 1)
PY
