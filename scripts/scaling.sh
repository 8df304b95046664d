#!/usr/bin/env bash
# Worker-scaling sweep on one machine: the standard workload (2M events, 10K stations) as a file,
# `medallion run` with 1, 2, 4, ... workers, events/s and efficiency per worker count.
#
#   scripts/scaling.sh [--workers 1,2,4,8,16] [--events 2000000] [--partitions 16] [--out DIR]
#
# Partitions: a partition is read by one worker, so use at least as many as the largest worker
# count (the standard workload's 8 would leave workers idle beyond 8).
# Writes DIR/scaling.json and DIR/scaling.md (default DIR: bench-results). MEDALLION_BIN picks
# the binary (default target/release/medallion).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
workers="1,2,4,8,16" events=2000000 partitions=16 out="$root/bench-results"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --workers) workers="$2"; shift 2 ;;
    --events) events="$2"; shift 2 ;;
    --partitions) partitions="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --help|-h) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "scaling: unknown option '$1'" >&2; exit 2 ;;
  esac
done
bin="${MEDALLION_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/medallion}"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin" generate --events "$events" --stations 10000 --out "$work/events.jsonl" >&2
IFS=, read -ra wl <<< "$workers"
: > "$work/runs.jsonl"
for w in "${wl[@]}"; do
  rm -rf "$work/out"
  "$bin" run --workers "$w" --source "file:$work/events.jsonl" --partitions "$partitions" \
    --out "$work/out" --plain-progress > "$work/stdout.txt" 2> "$work/stderr.txt" || { cat "$work/stderr.txt" >&2; exit 1; }
  python3 -c "import json,sys; s=json.load(open(sys.argv[1])); s['workers_requested']=int(sys.argv[2]); print(json.dumps(s))" \
    "$work/out/_metrics/summary.json" "$w" >> "$work/runs.jsonl"
  echo "scaling: $w workers done" >&2
done
python3 - "$work/runs.jsonl" "$out" "$events" "$partitions" <<'PY'
import json, os, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
out, events, partitions = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
base = runs[0]["events_per_second"] / runs[0]["workers_requested"]
lines = [f"{os.cpu_count()} CPUs ({cpu}); {events:,} events, {partitions} partitions, file source", "",
         "| workers | events/s | speed-up | efficiency | e2e p99 ms | peak RSS MB |", "|---|---|---|---|---|---|"]
for r in runs:
    w = r["workers_requested"]
    eps = r["events_per_second"]
    lines.append(f"| {w} | {eps:,.0f} | {eps / runs[0]['events_per_second']:.2f}x | {eps / (base * w):.0%} | "
                 f"{r['end_to_end_latency_ms']['p99']} | {(r['peak_rss_bytes'] or 0) / 1e6:.0f} |")
open(os.path.join(out, "scaling.md"), "w").write("\n".join(lines) + "\n")
json.dump({"cpus": os.cpu_count(), "cpu": cpu, "events": events, "partitions": partitions, "runs": runs},
          open(os.path.join(out, "scaling.json"), "w"), indent=2)
print("\n".join(lines))
PY
