#!/usr/bin/env python3
"""The DuckDB peer of the reference workload, for `scripts/vs-duckdb.sh`: the same job as
medallion's core, in one DuckDB SQL pipeline over a JSON-lines file.

    python3 scripts/duckdb_peer.py FILE OUTDIR [--now RFC3339] [--threads N]

- bronze: every line as delivered (bytes) with its line number; Parquet (Snappy).
- parse: JSON object, every known field absent, null or of its JSON type (string / integer / any
  number), as workload/README.md; anything else goes to quarantine as a parse error.
- the 14 rules of checks.yml, written as SQL with DQX's semantics (null passes except the not-null
  checks; inclusive ranges; anchored regex; strict RFC 3339 event_time; "now" + 300 s).
- silver: parsed, no failing error rule, deduplicated on event_id (the first line wins), typed,
  with `_warnings`; quarantine: the rest with `_errors` and `_warnings`. Both Parquet.

Prints one JSON line: wall seconds, peak RSS (this process, so DuckDB's), row counts. Needs
`pip install duckdb` (measured with 2.0.1). "now" defaults to FILE.meta.json's, like the oracle.
"""
import argparse
import json
import os
import resource
import sys
import time

import duckdb

NUMERIC = ("temperature_c", "humidity_pct", "pressure_hpa", "wind_speed_ms", "precip_mm", "lat",
           "lon", "battery_v")
STRINGS = ("event_id", "station_id", "event_time", "condition")
TS = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$"

# (name, criticality, SQL that is TRUE when the check fails)
RULES = [
    ("station_id_is_null_or_empty", "error", "station_id IS NULL OR station_id = ''"),
    ("station_id_bad_format", "error", "NOT regexp_full_match(station_id, '^WS-[0-9]{5}$')"),
    ("event_time_not_parseable", "error", "event_time IS NOT NULL AND ts IS NULL"),
    ("event_time_in_future", "error", "ts > $now::TIMESTAMPTZ + INTERVAL 300 SECOND"),
    ("temperature_c_is_null", "error", "temperature_c IS NULL"),
    ("temperature_c_out_of_range", "error", "temperature_c NOT BETWEEN -90 AND 60"),
    ("humidity_pct_out_of_range", "warn", "humidity_pct NOT BETWEEN 0 AND 100"),
    ("pressure_hpa_out_of_range", "warn", "pressure_hpa NOT BETWEEN 870 AND 1085"),
    ("wind_speed_ms_negative", "warn", "wind_speed_ms < 0"),
    ("wind_dir_deg_out_of_range", "warn", "wind_dir_deg NOT BETWEEN 0 AND 359"),
    ("precip_mm_negative", "warn", "precip_mm < 0"),
    ("condition_unknown", "warn",
     "condition NOT IN ('clear', 'cloudy', 'rain', 'snow', 'fog', 'storm')"),
    ("lat_out_of_range", "warn", "lat NOT BETWEEN -90 AND 90"),
    ("lon_out_of_range", "warn", "lon NOT BETWEEN -180 AND 180"),
]


def type_ok(field, want):
    t = f"json_type(j, '$.{field}')"
    if want == "string":
        ok = "('VARCHAR', 'NULL')"
    elif want == "integer":
        ok = "('BIGINT', 'UBIGINT', 'HUGEINT', 'NULL')"
    else:
        ok = "('BIGINT', 'UBIGINT', 'HUGEINT', 'DOUBLE', 'NULL')"
    return f"coalesce({t} IN {ok}, true)"


def failed_list(criticality):
    parts = [f"CASE WHEN coalesce({cond}, false) THEN '{name}' END"
             for name, crit, cond in RULES if crit == criticality]
    return f"list_filter([{', '.join(parts)}], lambda x: x IS NOT NULL)"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("out")
    ap.add_argument("--now")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    now = args.now
    if now is None:
        with open(args.file + ".meta.json") as f:
            now = json.load(f)["now"]
    os.makedirs(args.out, exist_ok=True)
    start = time.monotonic()
    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    con.execute("SET preserve_insertion_order = true")
    checks = " AND ".join(
        [type_ok(f, "string") for f in STRINGS] + [type_ok("wind_dir_deg", "integer")]
        + [type_ok(f, "number") for f in NUMERIC])
    con.execute(f"""
        CREATE TEMP TABLE bronze AS
        SELECT row_number() OVER () AS seq, line AS body
        FROM read_csv(?, columns = {{'line': 'VARCHAR'}}, header = false, delim = '\x1f',
                      quote = '', escape = '', auto_detect = false, strict_mode = false,
                      null_padding = false, all_varchar = true)
    """, [args.file])
    con.execute(f"""COPY (SELECT seq, encode(body) AS body FROM bronze)
                    TO '{args.out}/bronze.parquet' (FORMAT parquet, COMPRESSION snappy)""")
    extract = ", ".join(
        [f"j->>'$.{f}' AS {f}" for f in STRINGS]
        + [f"(j->'$.wind_dir_deg')::BIGINT AS wind_dir_deg"]
        + [f"(j->'$.{f}')::DOUBLE AS {f}" for f in NUMERIC])
    con.execute(f"""
        CREATE TEMP TABLE parsed AS
        WITH v AS (
          SELECT seq, body, CASE WHEN json_valid(body) THEN body::JSON END AS j FROM bronze
        ), p AS (
          SELECT seq, body, j,
                 j IS NOT NULL AND json_type(j) = 'OBJECT' AND {checks} AS ok
          FROM v
        )
        SELECT seq, body, ok, {extract},
               CASE WHEN ok AND regexp_full_match(j->>'$.event_time', '{TS}')
                    THEN try_cast(j->>'$.event_time' AS TIMESTAMPTZ) END AS ts
        FROM (SELECT seq, body, ok, CASE WHEN ok THEN j END AS j FROM p)
    """)
    con.execute(f"""
        CREATE TEMP TABLE checked AS
        SELECT *, CASE WHEN ok THEN {failed_list('error')} ELSE ['parse'] END AS errs,
                  CASE WHEN ok THEN {failed_list('warn')} ELSE [] END AS warns
        FROM parsed
    """.replace("$now", f"'{now}'"))
    cols = ", ".join(STRINGS[:2] + ("ts AS event_time",) + NUMERIC[:5]
                     + ("wind_dir_deg", "condition") + NUMERIC[5:])
    con.execute(f"""
        COPY (
          SELECT seq, {cols}, CASE WHEN len(warns) > 0 THEN warns END AS _warnings
          FROM checked
          WHERE len(errs) = 0
          QUALIFY event_id IS NULL OR row_number() OVER (PARTITION BY event_id ORDER BY seq) = 1
          ORDER BY seq
        ) TO '{args.out}/silver.parquet' (FORMAT parquet, COMPRESSION snappy)
    """)
    con.execute(f"""
        COPY (
          SELECT seq, encode(body) AS body, {cols}, errs AS _errors,
                 CASE WHEN len(warns) > 0 THEN warns END AS _warnings
          FROM checked WHERE len(errs) > 0 ORDER BY seq
        ) TO '{args.out}/quarantine.parquet' (FORMAT parquet, COMPRESSION snappy)
    """)
    wall = time.monotonic() - start
    count = lambda name: con.execute(
        f"SELECT count(*) FROM '{args.out}/{name}.parquet'").fetchone()[0]
    result = {
        "wall_s": round(wall, 3),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "bronze": count("bronze"),
        "silver": count("silver"),
        "quarantine": count("quarantine"),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
