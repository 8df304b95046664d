#!/usr/bin/env python3
"""The soak's report (called by scripts/soak.sh; also by hand on a CSV it wrote):
SVG of RSS, open files and Parquet files over time, a table, and the flatness verdict.

usage: soak_report.py CSV SVG MINUTES RATE RUN_OK(1/0) REPORT_ONLY(1/0) [COMMITS_CSV]
"""
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
# Epoch commit durations (all tables), by thirds of the run's time.
commits = []
if len(sys.argv) > 7:
    commits = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(open(sys.argv[7]))]
def p99(rs):
    xs = sorted(r["commit_ms"] for r in rs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))] if xs else float("nan")
cmax = max((r["seconds"] for r in commits), default=0)
c_mid = [r for r in commits if cmax / 3 <= r["seconds"] < 2 * cmax / 3]
c_last = [r for r in commits if r["seconds"] >= 2 * cmax / 3]
commit_growth = p99(c_last) / p99(c_mid) if c_mid and c_last else 1.0
flat = rss_growth <= 0.05 and fd_growth <= 10 and commit_growth <= 1.2
panels = [("rss_mb", "RSS (MB)"), ("open_files", "open files"), ("data_files", "Parquet files on disk")]
if "disk_mb" in rows[0]:
    panels.append(("disk_mb", "disk used by the tables (MB)"))
w, h, pad = 720, 170, 45
out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h * (len(panels) + 1) + 30}" font-family="sans-serif" font-size="11">',
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
if commits:
    y0 = 30 + len(panels) * h
    vmax = max(r["commit_ms"] for r in commits) * 1.1 or 1
    cmax = cmax or 1
    pts = " ".join(f'{pad + (w - pad - 10) * r["seconds"] / cmax:.1f},{y0 + h - 25 - (h - 40) * r["commit_ms"] / vmax:.1f}' for r in commits)
    out.append(f'<text x="5" y="{y0 + 12}">epoch commit duration, all tables (ms; max {vmax / 1.1:.0f}; p99 middle third {p99(c_mid):.0f}, last third {p99(c_last):.0f})</text>')
    out.append(f'<line x1="{pad}" y1="{y0 + h - 25}" x2="{w - 10}" y2="{y0 + h - 25}" stroke="#999"/>')
    out.append(f'<polyline fill="none" stroke="#a85448" stroke-width="0.8" points="{pts}"/>')
out.append("</svg>")
open(svg_path, "w").write("\n".join(out))
print(f"| soak | samples | RSS MB first/middle/last third | open files middle/last | epoch commit p99 ms middle/last | Parquet files at end | events read | verdict |")
print(f"|---|---|---|---|---|---|---|---|")
first = rows[:third] or rows[:1]
report_only = sys.argv[6] == "1"
# A report-only run (CI's minute) is mostly warm-up: RSS still rises as the epochs' buffers,
# views and arenas fill (a 10-minute run levels off from its fourth minute), so it names the
# trend without calling it a verdict.
verdict = 'flat' if flat else 'GROWING'
if report_only:
    verdict = f"no verdict (report only; RSS {rss_growth:+.0%} last third / middle third)"
print(f"| {minutes} min at {rate}/s | {len(rows)} | {mean(first, 'rss_mb'):.0f} / {mean(mid, 'rss_mb'):.0f} / {mean(last, 'rss_mb'):.0f} "
      f"| {mean(mid, 'open_files'):.0f} / {mean(last, 'open_files'):.0f} | {p99(c_mid):.0f} / {p99(c_last):.0f} | {rows[-1]['data_files']:.0f} | {rows[-1]['events_read']:.0f} "
      f"| {verdict}{'' if run_ok else ', run FAILED'} |")
print(f"wrote {path} and {svg_path}", file=sys.stderr)
sys.exit(0 if run_ok and (flat or report_only) else 1)
