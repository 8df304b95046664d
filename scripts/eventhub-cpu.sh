#!/usr/bin/env bash
# Where the CPU goes on the Event Hubs path: starts `medallion emulator`, fills it with
# `medallion produce`, reads it with `medallion run --source eventhub`, and prints CPU seconds
# and microseconds per event for the emulator and the pipeline process; with `perf` installed,
# also the pipeline's split by thread (`eventhub-source` = the Event Hubs client's runtime,
# `timely:work-N` = the workers).
#
#   scripts/eventhub-cpu.sh [--events N] [--workers W]      (defaults: 200000, 2)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
events=200000 workers=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    --events) events="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --help|-h) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "eventhub-cpu: unknown option '$1'" >&2; exit 2 ;;
  esac
done
bin="${MEDALLION_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/medallion}"
[[ -n "${MEDALLION_BIN:-}" ]] || (cd "$root" && cargo build --release --quiet)
d="$(mktemp -d)"
"$bin" emulator --port 0 --hub weather:8 > "$d/emulator.log" 2>&1 &
emu=$!
trap 'kill $emu 2>/dev/null; rm -rf "$d"' EXIT
for _ in $(seq 100); do grep -q '^Endpoint=' "$d/emulator.log" && break; sleep 0.1; done
cs="$(grep '^Endpoint=' "$d/emulator.log")"
"$bin" produce --hub weather --events "$events" --stations 2000 --connection-string "$cs" 2>&1 | tail -1
ticks() { awk '{print $14 + $15}' "/proc/$emu/stat"; }
before=$(ticks)
prof=()
if command -v perf > /dev/null; then prof=(perf record -q -F 499 -o "$d/perf.data" --); fi
/usr/bin/time -f "%U %S" -o "$d/time" "${prof[@]}" "$bin" run --workers "$workers" --source eventhub \
  --partitions 8 --out "$d/out" --views none --plain-progress --hub weather --stop-when-idle 1 \
  --connection-string "$cs" --now 2026-11-26T12:00:00Z > /dev/null 2> "$d/stderr" || { cat "$d/stderr"; exit 1; }
after=$(ticks)
python3 - "$events" "$before" "$after" "$d/time" "$d/out/_metrics/summary.json" <<'PY'
import json, os, sys
n, before, after = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
hz = os.sysconf("SC_CLK_TCK")
emu = (after - before) / hz
user, sys_ = map(float, open(sys.argv[4]).read().split())
s = json.load(open(sys.argv[5]))
print(f"pipeline: {s['events_read']} events in {s['seconds']:.2f} s = {s['events_per_second']:,.0f} events/s (incl. the 1 s idle stop)")
print(f"emulator: {emu:.2f} CPU s = {emu / n * 1e6:.1f} us per event")
print(f"pipeline process: {user + sys_:.2f} CPU s = {(user + sys_) / n * 1e6:.1f} us per event")
PY
if [[ ${#prof[@]} -gt 0 ]]; then
  echo "pipeline process by thread (share of its CPU samples):"
  perf report -i "$d/perf.data" --no-children --sort comm --stdio -g none 2>/dev/null | grep '%' | head -5
fi
