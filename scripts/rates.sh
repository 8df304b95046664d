#!/usr/bin/env bash
# Cost per event at the rates a hub delivers (issue 26): for each rate, the paced generator
# (`medallion run --source generator --rate R`) runs for a fixed time and is stopped with SIGTERM
# (it commits what it read); rate 0 is a run with no events at all (an empty `medallion
# emulator` hub read over AMQP). Prints, per rate: events, CPU (user+sys, /usr/bin/time), share
# of one core, CPU per event, commits and data files per table (from the tables' logs and
# directories), end-to-end p50/p99 (enqueued -> committed, from the run's summary) and peak RSS.
# Writes bench-results/rates-<stamp>.md.
#
#   scripts/rates.sh [--rates 0,100,5000,20000,100000] [--seconds 20] [--workers 2] [-- MORE RUN OPTIONS]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rates="0,100,5000,20000,100000" seconds=20 workers=2 outdir="$root/bench-results"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rates) rates="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --out) outdir="$2"; shift 2 ;;
    --) shift; break ;;
    --help|-h) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "rates.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
bin="${MEDALLION_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/medallion}"
[[ -x "$bin" ]] || (cd "$root" && cargo build --release --quiet)
command -v /usr/bin/time >/dev/null || { echo "rates.sh: needs /usr/bin/time (Debian: apt-get install time)" >&2; exit 2; }
mkdir -p "$outdir"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
report="$outdir/rates-$stamp.md"
work="$(mktemp -d)"
emu_pid=""
cleanup() { [[ -n "$emu_pid" ]] && kill "$emu_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

{
  echo "# Cost per event by rate ($stamp, $(nproc) cores, $workers workers, ${seconds} s each)"
  echo
  echo "\`scripts/rates.sh --rates $rates --seconds $seconds --workers $workers $*\`"
  echo
  echo "| rate/s | events | CPU s | share of a core | CPU per event | commits per table | files per table | e2e p50 / p99 ms | peak RSS MB |"
  echo "|---|---|---|---|---|---|---|---|---|"
} > "$report"

IFS=, read -ra list <<< "$rates"
for rate in "${list[@]}"; do
  out="$work/out-$rate"
  if [[ "$rate" == 0 ]]; then
    "$bin" emulator --port 0 --hub weather:8 > "$work/emulator.log" 2>&1 &
    emu_pid=$!
    for _ in $(seq 100); do grep -q '^Endpoint=' "$work/emulator.log" && break; sleep 0.1; done
    cs="$(grep '^Endpoint=' "$work/emulator.log")"
    source=(--source eventhub --hub weather --connection-string "$cs")
  else
    source=(--source generator --rate "$rate" --events 1000000000)
  fi
  /usr/bin/time -f "%U %S %M" -o "$work/time-$rate" \
    timeout -s TERM "$seconds" "$bin" run --workers "$workers" "${source[@]}" --out "$out" \
    --plain-progress "$@" > "$work/run-$rate.log" 2>&1 || true
  if [[ -n "$emu_pid" ]]; then kill "$emu_pid" 2>/dev/null || true; emu_pid=""; fi
  read -r user sys rss_kb < <(tail -1 "$work/time-$rate")
  events=$(grep -oE '^medallion run: [0-9]+ events' "$work/run-$rate.log" | grep -oE '[0-9]+' | head -1 || true)
  events=${events:-0}
  e2e=$(grep -E 'end-to-end latency' "$work/run-$rate.log" | sed -E 's/.*p50 ([0-9.]+) ms, p90 [0-9.]+, p99 ([0-9.]+).*/\1 \/ \2/' || true)
  commits="" files=""
  for t in bronze silver quarantine quality station_latest; do
    [[ -d "$out/$t/_delta_log" ]] || continue
    # Versions after the one that created the table.
    c=$(find "$out/$t/_delta_log" -name '*.json' | wc -l); c=$((c - 1))
    f=$(find "$out/$t" -maxdepth 1 -name '*.parquet' | wc -l)
    commits+="$t $c, "; files+="$t $f, "
  done
  python3 - "$rate" "$events" "$user" "$sys" "$rss_kb" "$seconds" "${commits%, }" "${files%, }" "${e2e:-n/a}" >> "$report" <<'EOF'
import sys
rate, events, user, sys_s, rss_kb, seconds, commits, files, e2e = sys.argv[1:]
events, cpu = int(events), float(user) + float(sys_s)
share = 100 * cpu / float(seconds)
per = f"{cpu / events * 1e6:.1f} µs" if events else "—"
print(f"| {rate} | {events} | {cpu:.2f} | {share:.1f}% | {per} | {commits or 'none'} | {files or 'none'} | {e2e} | {int(rss_kb) / 1024:.0f} |")
EOF
  tail -1 "$report" >&2
done
cat "$report"
echo "wrote $report" >&2
