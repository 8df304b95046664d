#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo fuzz / libFuzzer, AddressSanitizer) of medallion's input-facing
# code, each target for a fixed budget, from its seed corpus in fuzz/corpus/<target>/:
#
#   scripts/fuzz.sh [--seconds 600] [--targets json_body,check_file,sql_expression,emulator_frames]
#
#   json_body        the JSON body parser (one row or one failure per body; rows evaluate)
#   check_file       the DQX check-file loader (YAML/JSON) and the evaluation of what loads
#   sql_expression   the SQL expression parser and evaluator (through a sql_expression check)
#   emulator_frames  the emulator's AMQP/SASL frame handling, bytes from an unauthenticated peer
#
# Limits per input: 10 s (a hang), 2 GiB RSS and 512 MiB per allocation (unbounded allocation),
# 64 KiB input. The seeds are fuzz/corpus/<target>/ (in git); what the fuzzer adds goes to
# fuzz/corpus-work/<target>/ (not in git, reused by the next run); a crash is written to
# fuzz/artifacts/<target>/ and fails the script (make it a regression test: add the input to the
# corpus, which tests/it/fuzz_replay.rs replays in CI). Needs cargo-fuzz (`cargo install
# cargo-fuzz`); the stable toolchain runs it with RUSTC_BOOTSTRAP=1. The first build compiles the
# whole dependency tree with sanitizers into fuzz/target/ (about 15 minutes on 2 cores).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds=600
targets="json_body,check_file,sql_expression,emulator_frames"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --targets) targets="$2"; shift 2 ;;
    --help|-h) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
command -v cargo-fuzz >/dev/null || { echo "fuzz.sh: needs cargo-fuzz: cargo install cargo-fuzz" >&2; exit 2; }
export RUSTC_BOOTSTRAP=1
cd "$root"
IFS=, read -ra list <<< "$targets"
cargo fuzz build -O
status=0
rows=()
for t in "${list[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/corpus-work/$t" "fuzz/artifacts/$t"
  log="fuzz/artifacts/$t/fuzz.log"
  # Only what this run finds counts (an earlier finding's input is already a seed in the corpus).
  mark="$(mktemp)"
  echo "fuzz.sh: $t for $seconds s" >&2
  set +e
  cargo fuzz run -O "$t" "fuzz/corpus-work/$t" "fuzz/corpus/$t" -- -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=512 -max_len=65536 -print_final_stats=1 > "$log" 2>&1
  rc=$?
  set -e
  execs="$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')"
  crashes="$(find "fuzz/artifacts/$t" -type f -newer "$mark" \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)"
  rm -f "$mark"
  corpus="$(find "fuzz/corpus-work/$t" "fuzz/corpus/$t" -type f | wc -l)"
  if [[ $rc -ne 0 || $crashes -ne 0 ]]; then status=1; tail -30 "$log" >&2; fi
  rows+=("| $t | $seconds | $execs | $corpus | $crashes |")
done
echo "| target | seconds | executions | corpus | crashes, hangs, OOMs |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
exit $status
