#!/usr/bin/env bash
# Where the CPU goes on the Event Hubs path, against the file path over the same events: writes
# N events with `medallion generate`, sends them with `medallion produce --file` to a `medallion
# emulator`, reads them with `medallion run --source eventhub`, then reads the same file with
# `--source file:` (same workers, partitions and options). Prints CPU seconds and microseconds per
# event for the emulator and for each pipeline run; with `perf` installed, also each run's split
# by thread (`eventhub-source` = the Event Hubs client's runtime, `timely:work-N` = the workers),
# the workers' CPU per event on each path and their ratio (issue 26: within 1.2x).
#
# The default 1M events make each path's run long enough (~1.5 s on the file, ~8 s on the hub)
# that start-up and perf's sampling noise stay small: 200K events read 1.06-1.23x for the same
# build, 1M 1.20-1.28x before the larger batches, 1.03-1.04x after.
#
#   scripts/eventhub-cpu.sh [--events N] [--workers W]      (defaults: 1000000, 2)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
events=1000000 workers=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    --events) events="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --help|-h) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
"$bin" generate --events "$events" --stations 2000 --out "$d/events.jsonl" 2> /dev/null
"$bin" produce --hub weather --file "$d/events.jsonl" --connection-string "$cs" 2>&1 | tail -1
ticks() { awk '{print $14 + $15}' "/proc/$emu/stat"; }
common=(--workers "$workers" --partitions 8 --views none --plain-progress --now 2026-11-26T12:00:00Z)

# run NAME SOURCE-ARGS...: one pipeline run, timed (and profiled by thread with perf).
run() {
  local name="$1"; shift
  local prof=()
  if command -v perf > /dev/null; then prof=(perf record -q -F 499 -o "$d/perf-$name.data" --); fi
  /usr/bin/time -f "%U %S" -o "$d/time-$name" "${prof[@]}" "$bin" run "${common[@]}" "$@" \
    --out "$d/out-$name" > /dev/null 2> "$d/stderr-$name" || { cat "$d/stderr-$name"; exit 1; }
  if [[ ${#prof[@]} -gt 0 ]]; then
    perf report -i "$d/perf-$name.data" --no-children --sort comm --stdio -g none 2>/dev/null \
      | grep '%' > "$d/threads-$name" || true
  fi
}
before=$(ticks)
run eventhub --source eventhub --hub weather --stop-when-idle 1 --connection-string "$cs"
after=$(ticks)
run file --source "file:$d/events.jsonl"
python3 - "$events" "$before" "$after" "$d" <<'PY'
import json, os, re, sys
n, before, after, d = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
hz = os.sysconf("SC_CLK_TCK")
emu = (after - before) / hz
print(f"emulator: {emu:.2f} CPU s = {emu / n * 1e6:.1f} us per event")
workers = {}
for name in ("eventhub", "file"):
    user, sys_ = map(float, open(f"{d}/time-{name}").read().split())
    cpu = user + sys_
    s = json.load(open(f"{d}/out-{name}/_metrics/summary.json"))
    print(f"{name} path: {s['events_read']} events in {s['seconds']:.2f} s = {s['events_per_second']:,.0f} events/s; "
          f"process {cpu:.2f} CPU s = {cpu / n * 1e6:.1f} us per event")
    path = f"{d}/threads-{name}"
    if os.path.exists(path):
        shares = {}
        for line in open(path):
            m = re.match(r"\s*([\d.]+)%\s+(\S+)", line)
            if m:
                shares[m.group(2)] = shares.get(m.group(2), 0.0) + float(m.group(1))
        for comm, share in sorted(shares.items(), key=lambda kv: -kv[1])[:5]:
            print(f"    {share:6.2f}%  {comm}")
        work = sum(v for k, v in shares.items() if k.startswith("timely:work")) / 100 * cpu
        workers[name] = work / n * 1e6
        print(f"    workers: {work:.2f} CPU s = {workers[name]:.1f} us per event")
if len(workers) == 2:
    print(f"workers' CPU per event, Event Hubs path / file path: {workers['eventhub'] / workers['file']:.2f}x (target <= 1.2x)")
PY
