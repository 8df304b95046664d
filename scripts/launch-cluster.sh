#!/usr/bin/env bash
# Starts a medallion cluster: N processes x W timely workers of `medallion run`.
#
#   scripts/launch-cluster.sh --processes N --workers W [--hostfile FILE] -- <medallion run options>
#
# Without --hostfile every process runs on this machine (a loopback hostfile is written, with
# free ports). With --hostfile (one host:port per line, one line per process), process i is
# started on host i over ssh, in the same directory, with the same binary path.
# The same run options go to every process; each process's output is prefixed with [pI].
# If any process fails, all others are stopped and the script exits with that status.
# Environment: MEDALLION_BIN (default: target/release/medallion, built if missing).
set -euo pipefail

processes=1 workers=1 hostfile=""
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --processes|-n) processes="$2"; shift 2 ;;
    --workers|-w) workers="$2"; shift 2 ;;
    --hostfile) hostfile="$2"; shift 2 ;;
    --help) usage; exit 0 ;;
    --) shift; break ;;
    *) echo "launch-cluster: unknown option '$1' (run options go after --)" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$processes" =~ ^[1-9][0-9]*$ ]] || { echo "launch-cluster: --processes must be a positive integer" >&2; exit 2; }
[[ "$workers" =~ ^[1-9][0-9]*$ ]] || { echo "launch-cluster: --workers must be a positive integer" >&2; exit 2; }

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${MEDALLION_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/medallion}"
if [[ ! -x "$bin" ]]; then
  echo "launch-cluster: building $bin" >&2
  (cd "$root" && cargo build --release --quiet)
fi

tmp="$(mktemp -d)"
remote=0
if [[ -z "$hostfile" ]]; then
  hostfile="$tmp/hosts"
  python3 "$(dirname "$0")/loopback_hosts.py" "$processes" > "$hostfile"
else
  [[ -r "$hostfile" ]] || { echo "launch-cluster: cannot read hostfile $hostfile" >&2; exit 2; }
  lines=$(grep -c . "$hostfile" || true)
  (( lines >= processes )) || { echo "launch-cluster: $hostfile lists $lines hosts, need $processes" >&2; exit 2; }
  remote=1
fi

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

mapfile -t hosts < <(grep . "$hostfile")
for ((i = 0; i < processes; i++)); do
  cmd=("$bin" run -n "$processes" -p "$i" -w "$workers" --hostfile "$hostfile" "$@")
  if (( remote )); then
    host="${hosts[$i]%:*}"
    printf -v quoted '%q ' "${cmd[@]}"
    ssh "$host" "cd $(printf '%q' "$PWD") && $quoted" > >(sed -u "s/^/[p$i] /") 2>&1 &
  else
    "${cmd[@]}" > >(sed -u "s/^/[p$i] /") 2>&1 &
  fi
  pids+=($!)   # the process itself (not a pipeline), so that cleanup can stop it
done

status=0
live=("${pids[@]}")
while (( ${#live[@]} > 0 )); do
  finished=""
  if wait -n -p finished "${live[@]}"; then
    rest=()
    for pid in "${live[@]}"; do [[ "$pid" == "$finished" ]] || rest+=("$pid"); done
    live=("${rest[@]}")
  else
    status=$?
    echo "launch-cluster: process ${finished:-?} exited with status $status; stopping the others" >&2
    break
  fi
done
exit "$status"
