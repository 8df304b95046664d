#!/usr/bin/env bash
# The benchmark harness: sweeps workers, sources and sizes of the reference workload through
# `medallion run`, with repeats, and reports events/s, MB/s of JSON, end-to-end latency and peak RSS.
#
#   scripts/bench.sh [--quick] [--sizes smoke,standard,large] [--workers 1,2,4] \
#                    [--sources file,generator] [--repeats N] [--views all,none] [--metrics off,on]
#                    [--stores local,azurite] [--out DIR]
#
#   --views     view modes to sweep: `all` (every view, the default of `medallion run`) and/or
#               `none` (no views), to measure what maintaining the views costs
#   --metrics   `off` (the default) and/or `on` (`--metrics-addr` serving /metrics on a free
#               port), to measure what the metrics cost; `on` runs show as views `VIEWS+metrics`
#   sources     file:PATH, generator (in process), eventhub (a `medallion emulator` started here,
#               filled by `medallion produce`, read over AMQP; events/s excludes the 1 s idle stop)
#   --stores    where the tables go: `local` (a directory, the default) and/or `azurite` (an
#               Azurite blob server started here, in memory, through az:// with
#               azure_storage_use_emulator=true); azurite runs show as source `SOURCE>azurite`, and
#               the table ends with the azurite/local throughput ratio per configuration
#   --quick     only the smoke size (10K events), 1 and 2 workers, one repeat (well under 2 minutes)
#   sizes       smoke = 10K events / 100 stations / 4 partitions, medium = 200K / 2K / 8,
#               standard = 2M / 10K / 8,
#               large = 20M / 100K / 32 (see shared/workload/README.md)
#
# Writes bench-results/<timestamp>.json, bench-results/latest.json and bench-results/report.html
# (throughput per worker count and latency percentiles, inline SVG), and prints a table.
# Input files are generated once into bench-results/data/ with `medallion generate`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
sizes="smoke,standard" workers="1,2" sources="file,generator" repeats=1 outdir="$root/bench-results" views="all" metrics="off"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) sizes="smoke"; workers="1,2"; repeats=1; shift ;;
    --sizes) sizes="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --sources) sources="$2"; shift 2 ;;
    --repeats) repeats="$2"; shift 2 ;;
    --views) views="$2"; shift 2 ;;
    --metrics) metrics="$2"; shift 2 ;;
    --out) outdir="$2"; shift 2 ;;
    --stores) stores="$2"; shift 2 ;;
    --help|-h) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench: unknown option '$1'" >&2; exit 2 ;;
  esac
done
bin="${MEDALLION_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/medallion}"
if [[ -z "${MEDALLION_BIN:-}" ]]; then
  (cd "$root" && cargo build --release --quiet)
fi
mkdir -p "$outdir/data" "$outdir/runs"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
results="$outdir/runs/$stamp.jsonl"
: > "$results"

size_params() { # name -> events stations partitions
  case "$1" in
    smoke) echo "10000 100 4" ;;
    medium) echo "200000 2000 8" ;;
    standard) echo "2000000 10000 8" ;;
    large) echo "20000000 100000 32" ;;
    *) echo "bench: unknown size '$1'" >&2; exit 2 ;;
  esac
}

IFS=, read -ra size_list <<< "$sizes"
IFS=, read -ra worker_list <<< "$workers"
IFS=, read -ra source_list <<< "$sources"
IFS=, read -ra views_list <<< "$views"
IFS=, read -ra metrics_list <<< "$metrics"
IFS=, read -ra store_list <<< "${stores:-local}"
if [[ " ${store_list[*]} " == *" azurite "* ]]; then
  # One Azurite for the whole sweep (in memory; each run writes under its own prefix).
  az_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  azurite-blob --inMemoryPersistence --disableTelemetry --loose --skipApiVersionCheck --silent \
    --blobHost 127.0.0.1 --blobPort "$az_port" > "$outdir/azurite.log" 2>&1 &
  az_pid=$!
  trap 'kill $az_pid 2>/dev/null || true' EXIT
  export AZURITE_BLOB_STORAGE_URL="http://127.0.0.1:$az_port"
  az_cs="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=$AZURITE_BLOB_STORAGE_URL/devstoreaccount1;"
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$az_port") 2>/dev/null && break; sleep 0.1; done
  python3 -c 'import sys; from azure.storage.blob import BlobServiceClient as C; C.from_connection_string(sys.argv[1]).create_container("bench")' "$az_cs"
fi
for size in "${size_list[@]}"; do
  read -r events stations partitions <<< "$(size_params "$size")"
  file="$outdir/data/$size.jsonl"
  if [[ " ${source_list[*]} " == *" file "* && ! -s "$file" ]]; then
    if [[ "$size" == smoke && -s "$root/../shared/workload/smoke/smoke.jsonl" ]]; then
      cp "$root/../shared/workload/smoke/smoke.jsonl" "$file"
      cp "$root/../shared/workload/smoke/smoke.jsonl.meta.json" "$file.meta.json"
    else
      echo "bench: generating $size ($events events) into $file" >&2
      "$bin" generate --events "$events" --stations "$stations" --out "$file" >&2
    fi
  fi
  # Repeats outermost: the configurations compared take turns, so drift in the machine's speed
  # affects them alike.
  for ((r = 1; r <= repeats; r++)); do
   for source in "${source_list[@]}"; do
    for w in "${worker_list[@]}"; do
     for vmode in "${views_list[@]}"; do
      for mmode in "${metrics_list[@]}"; do
       for store in "${store_list[@]}"; do
        run_out="$(mktemp -d)"
        case "$mmode" in
          off) mextra=(); vlabel="$vmode" ;;
          on) mextra=(--metrics-addr 127.0.0.1:0); vlabel="$vmode+metrics" ;;
          *) echo "bench: --metrics takes off and/or on, not '$mmode'" >&2; exit 2 ;;
        esac
        case "$source" in
          file) src="file:$file"; extra=(--now 2026-11-26T12:00:00Z) ;;
          generator) src="generator"; extra=(--events "$events" --stations "$stations" --now 2026-11-26T12:00:00Z) ;;
          eventhub)
            src="eventhub"
            "$bin" emulator --port 0 --hub "weather:$partitions" > "$run_out/emulator.log" 2>&1 &
            emu_pid=$!
            for _ in $(seq 100); do grep -q '^Endpoint=' "$run_out/emulator.log" && break; sleep 0.1; done
            cs="$(grep '^Endpoint=' "$run_out/emulator.log")"
            "$bin" produce --hub weather --events "$events" --stations "$stations" --connection-string "$cs" >&2
            extra=(--hub weather --stop-when-idle 1 --connection-string "$cs" --now 2026-11-26T12:00:00Z) ;;
          *) echo "bench: unknown source '$source'" >&2; exit 2 ;;
        esac
        case "$store" in
          local) out_url="$run_out/out"; sextra=(); slabel="$source" ;;
          azurite) out_url="az://bench/run-$stamp-$RANDOM$RANDOM"; slabel="$source>azurite"
            sextra=(--storage-option azure_storage_use_emulator=true) ;;
          *) echo "bench: --stores takes local and/or azurite, not '$store'" >&2; exit 2 ;;
        esac
        echo "bench: $size $slabel workers=$w views=$vlabel repeat=$r" >&2
        "$bin" run --workers "$w" --source "$src" --partitions "$partitions" --out "$out_url" "${sextra[@]}" \
          --views "$vmode" --plain-progress "${extra[@]}" "${mextra[@]}" > "$run_out/stdout" 2> "$run_out/stderr" \
          || { cat "$run_out/stderr" >&2; exit 1; }
        if [[ "$source" == eventhub ]]; then kill "$emu_pid"; wait "$emu_pid" 2>/dev/null || true; fi
        if [[ "$store" == azurite ]]; then
          mkdir -p "$run_out/out/_metrics"
          python3 -c 'import sys; from azure.storage.blob import BlobServiceClient as C; open(sys.argv[3], "wb").write(C.from_connection_string(sys.argv[1]).get_blob_client("bench", sys.argv[2]).download_blob().readall())' \
            "$az_cs" "${out_url#az://bench/}/_metrics/summary.json" "$run_out/out/_metrics/summary.json"
        fi
        python3 - "$run_out/out/_metrics/summary.json" "$size" "$slabel" "$w" "$r" "$vlabel" >> "$results" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
if sys.argv[3] == "eventhub":  # the run ends after 1 s without events: not part of the work
    s["seconds"] = max(s["seconds"] - 1.0, 1e-3)
    s["events_per_second"] = s["events_read"] / s["seconds"]
    s["mb_per_second"] = s["body_bytes"] / 1e6 / s["seconds"]
print(json.dumps({"size": sys.argv[2], "source": sys.argv[3], "workers": int(sys.argv[4]), "repeat": int(sys.argv[5]), "views": sys.argv[6],
  "events": s["events_read"], "seconds": s["seconds"], "events_per_second": s["events_per_second"],
  "mb_per_second": s["mb_per_second"], "e2e_ms": s["end_to_end_latency_ms"], "commit_us": s["commit_latency_us"],
  "batch_us": s["batch_latency_us"], "peak_rss_bytes": s["peak_rss_bytes"], "tables": s["tables"]}))
PY
        rm -rf "$run_out"
       done
      done
     done
    done
   done
  done
done

python3 - "$results" "$outdir" "$stamp" "$repeats" <<'PY'
import json, os, platform, sys
results, outdir, stamp, repeats = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
runs = [json.loads(l) for l in open(results) if l.strip()]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
machine = {"cpus": os.cpu_count(), "cpu": cpu, "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}
doc = {"stamp": stamp, "machine": machine, "runs": runs}
for name in (f"{stamp}.json", "latest.json"):
    with open(os.path.join(outdir, name), "w") as f:
        json.dump(doc, f, indent=2)
# table: best of repeats per (size, source, workers)
best, rates = {}, {}
for r in runs:
    k = (r["size"], r["source"], r["workers"], r.get("views", "all"))
    rates.setdefault(k, []).append(r["events_per_second"])
    if k not in best or r["events_per_second"] > best[k]["events_per_second"]:
        best[k] = r
def median(xs):
    xs = sorted(xs)
    return (xs[(len(xs) - 1) // 2] + xs[len(xs) // 2]) / 2
print(f"machine: {machine['cpus']} CPUs, {machine['cpu']}, {machine['memory_gib']} GiB")
print(f"| size | source | workers | views | events/s (best) | events/s (median of {repeats}) | MB/s | e2e p50 ms | e2e p99 ms | commit p99 ms | peak RSS MB |")
print(f"|---|---|---|---|---|---|---|---|---|---|---|")
for (size, source, w, v), r in sorted(best.items()):
    print(f"| {size} | {source} | {w} | {v} | {r['events_per_second']:,.0f} | {median(rates[(size, source, w, v)]):,.0f} | {r['mb_per_second']:.1f} | {r['e2e_ms']['p50']} | {r['e2e_ms']['p99']} | {r['commit_us']['p99']/1000:.1f} | {(r['peak_rss_bytes'] or 0)/1e6:.0f} |")
# report: SVG bars of events/s per worker count, per (size, source); latency percentiles table
rows = sorted(best.items())
width, bar_h = 720, 22
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{(len(rows)+1)*bar_h+20}" font-family="sans-serif" font-size="12">']
top = max((r["events_per_second"] for _, r in rows), default=1) or 1
for i, ((size, source, w, v), r) in enumerate(rows):
    y = 10 + i * bar_h
    bw = int((width - 330) * r["events_per_second"] / top)
    svg.append(f'<text x="5" y="{y+15}">{size} / {source} / {w}w / views {v}</text>')
    svg.append(f'<rect x="200" y="{y+3}" width="{bw}" height="{bar_h-6}" fill="#4878a8"/>')
    svg.append(f'<text x="{205+bw}" y="{y+15}">{r["events_per_second"]:,.0f} ev/s</text>')
svg.append("</svg>")
lat = "".join(f"<tr><td>{s}</td><td>{src}</td><td>{w}</td><td>{v}</td>" + "".join(f"<td>{r['e2e_ms'][p]}</td>" for p in ("p50","p90","p99","p999","max")) + "</tr>" for (s, src, w, v), r in rows)
html = f"""<!doctype html><html><head><meta charset="utf-8"><title>medallion benchmark {stamp}</title></head>
<body><h1>medallion benchmark {stamp}</h1><p>{machine['cpus']} CPUs ({machine['cpu']}), {machine['memory_gib']} GiB</p>
<h2>Throughput (best of repeats)</h2>{''.join(svg)}
<h2>End-to-end latency, ms (HdrHistogram percentiles)</h2>
<table border="1" cellpadding="4"><tr><th>size</th><th>source</th><th>workers</th><th>views</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>{lat}</table>
</body></html>"""
with open(os.path.join(outdir, "report.html"), "w") as f:
    f.write(html)
ratios = [(k, r["events_per_second"] / best[(k[0], k[1].split(">")[0], k[2], k[3])]["events_per_second"])
          for k, r in sorted(best.items()) if ">" in k[1] and (k[0], k[1].split(">")[0], k[2], k[3]) in best]
for (size, source, w, v), ratio in ratios:
    print(f"{source} / local ({size}, {w} workers, views {v}): {ratio:.2f}x throughput")
print(f"\nwrote {outdir}/latest.json and {outdir}/report.html", file=sys.stderr)
PY
