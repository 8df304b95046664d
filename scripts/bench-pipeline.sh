#!/usr/bin/env bash
# A declared pipeline's throughput: the machine-sensors pipeline of tests/it/declared_pipeline.py
# (8 fields: integer id and key, boolean, epoch-ms time, float, integer, string, nested JSON;
# 3 checks; a latest view and a 5-minute aggregate view) on a generated file, read as fast as the
# pipeline goes, with the run's default epochs and batches (the file's test-sized `epoch_events`
# and `batch_size` are overridden on the command line).
#
#   scripts/bench-pipeline.sh [--events 1000000] [--workers 2] [--rounds 2]
#
# Prints each round's summary line and writes bench-results/pipeline-sensors-<stamp>.jsonl.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
events=1000000 workers=2 rounds=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    --events) events="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --help|-h) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-pipeline: unknown option '$1'" >&2; exit 2 ;;
  esac
done
bin="${MEDALLION_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/medallion}"
[[ -n "${MEDALLION_BIN:-}" ]] || (cd "$root" && cargo build --release --quiet)
data="$root/bench-results/data/sensors-$events"
if [[ ! -s "$data/sensors.jsonl" ]]; then
  mkdir -p "$data"
  python3 "$root/tests/it/declared_pipeline.py" generate "$data" "$events" 1
fi
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
results="$root/bench-results/pipeline-sensors-$stamp.jsonl"
for ((r = 1; r <= rounds; r++)); do
  rm -rf "$data/out"
  (cd "$data" && /usr/bin/time -f '%e %M' -o time.txt "$bin" run --pipeline sensors.yml \
    --workers "$workers" --out out --max-latency 500ms --batch-size 16384 --plain-progress \
    > stdout.txt 2> stderr.txt) || { cat "$data/stderr.txt" >&2; exit 1; }
  read -r wall rss_kb < "$data/time.txt"
  line="$(grep -m1 'events from' "$data/stdout.txt")"
  python3 -c 'import json,sys; e,w,r,l=sys.argv[1:]; print(json.dumps({"events": int(e), "wall_s": float(w), "events_per_s": round(int(e)/float(w)), "peak_rss_mb": round(int(r)/1024, 1), "summary": l}))' \
    "$events" "$wall" "$rss_kb" "$line" | tee -a "$results"
done
echo "bench-pipeline: wrote $results" >&2
