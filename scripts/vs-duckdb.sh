#!/usr/bin/env bash
# medallion against DuckDB on the same file, in one run: the DuckDB peer (scripts/duckdb_peer.py:
# the same parse, 14 rules, dedup and Parquet out, as SQL) and `medallion run` (all views on, the
# default) take turns, each round; best and median wall time per engine, peak RSS, and the ratio.
#
#   scripts/vs-duckdb.sh [--size standard|smoke|6m] [--rounds 2] [--workers 2] [--threads 2] \
#                        [-- extra medallion run arguments]
#
#   --size     standard: 2M events, 10K stations, seed 42 (shared/workload/tools/gen_events.py);
#              6m: 6M events, 10K stations, seed 43; smoke: shared/workload/smoke/smoke.jsonl.
#              Files are generated once into bench-results/data/ (Python with numpy).
#   --threads  DuckDB's threads (the machine's cores by default)
#
# Needs `pip install duckdb`. Prints a table and writes bench-results/vs-duckdb-<stamp>.json.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
size=standard rounds=2 workers=2 threads="$(nproc)"
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --size) size="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    --help|-h) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "vs-duckdb: unknown option '$1'" >&2; exit 2 ;;
  esac
done
python3 -c 'import duckdb' 2>/dev/null || { echo "vs-duckdb: needs DuckDB for Python: pip install duckdb" >&2; exit 2; }
shared="$root/../shared/workload"
data="$root/bench-results/data"
mkdir -p "$data"
case "$size" in
  smoke) file="$shared/smoke/smoke.jsonl" ;;
  standard) file="$data/standard-seed42.jsonl"; gen=(--events 2000000 --stations 10000 --seed 42) ;;
  6m) file="$data/6m-seed43.jsonl"; gen=(--events 6000000 --stations 10000 --seed 43) ;;
  *) echo "vs-duckdb: unknown size '$size'" >&2; exit 2 ;;
esac
if [[ ! -s "$file" ]]; then
  echo "vs-duckdb: generating $file" >&2
  python3 "$shared/tools/gen_events.py" "${gen[@]}" --out "$file" >&2
fi
bin="${MEDALLION_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/medallion}"
[[ -n "${MEDALLION_BIN:-}" ]] || (cd "$root" && cargo build --release --quiet)
now="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["now"])' "$file.meta.json")"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
results="$root/bench-results/vs-duckdb-$stamp.jsonl"
: > "$results"
for ((r = 1; r <= rounds; r++)); do
  tmp="$(mktemp -d)"
  echo "vs-duckdb: round $r: duckdb" >&2
  python3 "$root/scripts/duckdb_peer.py" "$file" "$tmp/duck" --now "$now" --threads "$threads" \
    | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); d["engine"]="duckdb"; print(json.dumps(d))' >> "$results"
  rm -rf "$tmp/duck"
  echo "vs-duckdb: round $r: medallion" >&2
  t0="$(date +%s.%N)"
  "$bin" run --workers "$workers" --source "file:$file" --out "$tmp/med" --now "$now" \
    --plain-progress "${extra[@]}" > "$tmp/stdout" 2> "$tmp/stderr" || { cat "$tmp/stderr" >&2; exit 1; }
  t1="$(date +%s.%N)"
  python3 - "$tmp/med/_metrics/summary.json" "$t0" "$t1" >> "$results" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(json.dumps({"engine": "medallion", "wall_s": round(float(sys.argv[3]) - float(sys.argv[2]), 3),
                  "peak_rss_bytes": s["peak_rss_bytes"], "events_per_second": s["events_per_second"],
                  "e2e_ms": s["end_to_end_latency_ms"], "tables": s["tables"]}))
PY
  rm -rf "$tmp"
done
python3 - "$results" "$size" "$workers" "$threads" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows:
    by.setdefault(r["engine"], []).append(r)
print(f"file: {sys.argv[2]}; medallion {sys.argv[3]} workers (all views); DuckDB {sys.argv[4]} threads")
print("| engine | best wall s | median wall s | peak RSS MB (max) | rounds |")
print("|---|---|---|---|---|")
best = {}
for e in ("duckdb", "medallion"):
    rs = by.get(e, [])
    if not rs:
        continue
    walls = [r["wall_s"] for r in rs]
    best[e] = min(walls)
    rss = max(r["peak_rss_bytes"] or 0 for r in rs) / 1e6
    print(f"| {e} | {min(walls):.2f} | {statistics.median(walls):.2f} | {rss:.0f} | {len(rs)} |")
if len(best) == 2:
    print(f"\nmedallion is {best['duckdb'] / best['medallion']:.2f}x DuckDB (best wall times)")
PY
