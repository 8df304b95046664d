"""A second pipeline, declared in a file alone: machine sensors (an integer id, an integer key, a
boolean, a timestamp in epoch milliseconds, a nested object, an undeclared field), with bad
bodies, duplicates and late rows; and an independent recomputation of what its tables must hold.

  declared_pipeline.py generate DIR EVENTS SEED   writes DIR/sensors.jsonl and DIR/sensors.yml
  declared_pipeline.py check DIR OUT              compares OUT's Delta tables with a recomputation
                                                  over DIR/sensors.jsonl; prints a JSON summary
  declared_pipeline.py schema REPO FILE... -- OPTION...
      validates each pipeline FILE against REPO/docs/pipeline.schema.json, and checks that the
      schema's `run` properties are OPTION... (`medallion run`'s long options) and that
      REPO/docs/src/pipelines.md names every key the schema defines

The recomputation is plain Python over the input (json, dicts); the tables are read with the
deltalake package. Nothing of medallion's is used.
"""
import json
import math
import random
import os
import sys
from collections import Counter, defaultdict
from pathlib import Path

BASE_MS = 1_795_694_400_000  # 2026-11-26T12:00:00Z
MACHINES = 12
WINDOW_MS = 300_000

PIPELINE = (Path(__file__).resolve().parents[2] / "pipelines" / "sensors.yml").read_text()

FIELDS = ["reading_id", "machine", "running", "ts", "temp", "rpm", "site", "detail"]


def dumps(v):
    return json.dumps(v, separators=(",", ":"))


def generate(d, events, seed):
    rnd = random.Random(seed)
    lines = []
    for i in range(events):
        kind = rnd.random()
        if lines and kind < 0.03:  # an exact duplicate of a recent line
            lines.append(lines[-rnd.randint(1, min(40, len(lines)))])
            continue
        ts = BASE_MS + i * 1000
        if rnd.random() < 0.04:  # late: 10 to 30 minutes back, on a half second
            ts -= rnd.randint(10, 30) * 60_000 + 500
        ev = {
            "reading_id": 10_000 + i,
            "machine": rnd.randrange(MACHINES),
            "running": rnd.random() < 0.7,
            "ts": ts,
            "temp": round(rnd.uniform(10, 90), 2),
            "rpm": rnd.randint(0, 3000),
            "site": rnd.choice(["north", "south", None]),
            "detail": {"fw": rnd.choice(["1.2", "1.3"]), "pos": [rnd.randint(0, 9), rnd.randint(0, 9)]},
        }
        r = rnd.random()
        if r < 0.02:
            ev["temp"] = None  # error rule
        elif r < 0.04:
            ev["temp"] = rnd.choice([-80.5, 200])  # error rule
        elif r < 0.06:
            ev["rpm"] = -5  # warning only
        elif r < 0.07:
            ev["temp"] = "hot"  # wrong type: parse error
        elif r < 0.08:
            ev["ts"] = "2026-11-26T12:00:00Z"  # a string where epoch ms belong: parse error
        elif r < 0.09:
            ev["reading_id"] = 1.5  # parse error
        elif r < 0.10:
            ev["note"] = {"by": "tech", "n": rnd.randint(1, 9)}  # undeclared: kept in _extra
        elif r < 0.11:
            ev["detail"] = None
        if rnd.random() < 0.01:
            lines.append('{"reading_id": %d, "machine": ' % (10_000 + i))  # malformed JSON
            continue
        if rnd.random() < 0.005:
            lines.append(dumps([1, 2, 3]))  # not an object
            continue
        lines.append(dumps({k: v for k, v in ev.items() if not (k == "site" and v is None and i % 2)}))
    Path(d, "sensors.jsonl").write_text("\n".join(lines) + "\n")
    Path(d, "sensors.yml").write_text(PIPELINE)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def parse(line):
    """The event of a body, or None when it is not one (medallion quarantines it as a parse error)."""
    try:
        ev = json.loads(line)
    except ValueError:
        return None
    if not isinstance(ev, dict):
        return None
    types = {
        "reading_id": is_int, "machine": is_int, "rpm": is_int, "ts": is_int,
        "running": lambda v: isinstance(v, bool),
        "temp": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "site": lambda v: isinstance(v, str),
        "detail": lambda v: True,
    }
    for k, ok in types.items():
        v = ev.get(k)
        if v is not None and not ok(v):
            return None
    row = {k: ev.get(k) for k in FIELDS}
    if row["temp"] is not None:
        row["temp"] = float(row["temp"])
    extra = {k: v for k, v in ev.items() if k not in FIELDS}
    row["_extra"] = extra or None
    return row


def errors_of(row):
    errs = []
    if row["temp"] is None:
        errs.append("temp_missing")
    elif not -50 <= row["temp"] <= 150:
        errs.append("temp_out_of_range")
    return errs


def expected(lines):
    silver, seen = {}, set()
    quarantine = Counter()
    for line in lines:
        row = parse(line)
        if row is None or errors_of(row):
            quarantine[line] += 1
            continue
        if row["reading_id"] in seen:
            continue
        seen.add(row["reading_id"])
        silver[row["reading_id"]] = row
    latest = {}
    for row in silver.values():
        m = row["machine"]
        if m is not None and (m not in latest or row["ts"] > latest[m]["ts"]):
            latest[m] = row
    groups = defaultdict(list)
    for row in silver.values():
        groups[(row["machine"], row["ts"] // WINDOW_MS * WINDOW_MS)].append(row)
    agg = {}
    for key, rows in groups.items():
        temps = [r["temp"] for r in rows if r["temp"] is not None]
        rpms = [r["rpm"] for r in rows if r["rpm"] is not None]
        agg[key] = {
            "count": len(rows),
            "avg_temp": math.fsum(temps) / len(temps) if temps else None,
            "max_temp": max(temps) if temps else None,
            "sum_rpm": sum(rpms) if rpms else None,
            "running_states": len({r["running"] for r in rows if r["running"] is not None}),
        }
    return silver, quarantine, latest, agg


def ms(t):
    """A timestamp read back (datetime, UTC) as epoch ms."""
    return None if t is None else round(t.timestamp() * 1000)


def table(out, name):
    from deltalake import DeltaTable
    return DeltaTable(str(Path(out, name))).to_pyarrow_table().to_pylist()


def same_event(a, b):
    """A silver (or view) row a equals the recomputed row b."""
    for k in FIELDS:
        va, vb = a[k], b[k]
        if k == "ts":
            va = ms(va)
        if k == "detail":
            va = None if va is None else json.loads(va)
        if va != vb:
            return f"{k}: {va!r} != {vb!r}"
    extra = None if a["_extra"] is None else json.loads(a["_extra"])
    if extra != b["_extra"]:
        return f"_extra: {extra!r} != {b['_extra']!r}"
    return None


def check(d, out):
    lines = Path(d, "sensors.jsonl").read_text().splitlines()
    silver, quarantine, latest, agg = expected(lines)
    problems = []
    got = table(out, "silver")
    ids = Counter(r["reading_id"] for r in got)
    dups = [i for i, n in ids.items() if n > 1]
    if dups:
        problems.append(f"silver repeats ids {dups[:5]}")
    if set(ids) != set(silver):
        problems.append(f"silver ids: {len(set(ids) - set(silver))} extra, {len(set(silver) - set(ids))} missing")
    for r in got:
        if r["reading_id"] in silver:
            why = same_event(r, silver[r["reading_id"]])
            if why:
                problems.append(f"silver {r['reading_id']}: {why}")
                break
        warned = [w["name"] for w in (r["_warnings"] or [])]
        want = ["rpm_negative"] if (r["rpm"] is not None and r["rpm"] < 0) else []
        if warned != want:
            problems.append(f"silver {r['reading_id']}: warnings {warned} != {want}")
            break
    q = Counter(r["body"].decode() for r in table(out, "quarantine"))
    if q != quarantine:
        problems.append(f"quarantine: {sum((q - quarantine).values())} extra, {sum((quarantine - q).values())} missing")
    lv = {r["machine"]: r for r in table(out, "machine_latest")}
    if set(lv) != set(latest):
        problems.append(f"machine_latest keys {sorted(lv)} != {sorted(latest)}")
    for m, row in latest.items():
        if m in lv and (why := same_event(lv[m], row)):
            problems.append(f"machine_latest {m}: {why}")
    av = {(r["machine"], ms(r["window_start"])): r for r in table(out, "machine_5m")}
    if set(av) != set(agg):
        problems.append(f"machine_5m: {len(set(av) - set(agg))} extra groups, {len(set(agg) - set(av))} missing")
    for key, want in agg.items():
        row = av.get(key)
        if row is None:
            continue
        for k, v in want.items():
            w = row[k]
            close = (w is None and v is None) or (
                w is not None and v is not None and math.isclose(w, v, rel_tol=1e-12, abs_tol=1e-9))
            if not close:
                problems.append(f"machine_5m {key} {k}: {w!r} != {v!r}")
                break
        if ms(row["window_end"]) != key[1] + WINDOW_MS:
            problems.append(f"machine_5m {key}: window_end {row['window_end']}")
    summary = {
        "lines": len(lines), "silver": len(got), "quarantine": sum(q.values()),
        "latest": len(lv), "groups": len(av), "problems": problems[:20],
    }
    print(json.dumps(summary))
    return 1 if problems else 0


def schema_keys(node, out):
    """Every property name a JSON Schema defines, anywhere in it."""
    if isinstance(node, dict):
        out.update(node.get("properties", {}).keys())
        for v in node.values():
            schema_keys(v, out)
    elif isinstance(node, list):
        for v in node:
            schema_keys(v, out)
    return out


def schema(repo, files, options):
    import jsonschema
    import yaml
    spec = json.loads(Path(repo, "docs/pipeline.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(spec)
    problems = []
    for f in files:
        errors = list(jsonschema.Draft202012Validator(spec).iter_errors(yaml.safe_load(Path(f).read_text())))
        problems += [f"{f}: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
    run = set(spec["properties"]["run"]["properties"])
    wanted = {o.replace("-", "_") for o in options} - {"pipeline", "help", "log_format"}
    if run != wanted:
        problems.append(f"schema run properties: missing {sorted(wanted - run)}, extra {sorted(run - wanted)}")
    doc = Path(repo, "docs/src/pipelines.md").read_text()
    keys = schema_keys(spec, set()) - run
    missing = sorted(k for k in keys if f"`{k}`" not in doc)
    if missing:
        problems.append(f"docs/src/pipelines.md does not describe {missing}")
    print(json.dumps({"files": len(files), "keys": len(keys), "problems": problems}))
    return 1 if problems else 0


if __name__ == "__main__":
    if sys.argv[1] == "schema":
        sep = sys.argv.index("--")
        sys.exit(schema(sys.argv[2], sys.argv[3:sep], sys.argv[sep + 1:]))
    if sys.argv[1] == "generate":
        generate(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        code = check(sys.argv[2], sys.argv[3])
        # Past the report, skip the interpreter's teardown: deltalake's PyArrow dataset threads
        # abort it now and then under load ("terminate called without an active exception").
        sys.stdout.flush()
        os._exit(code)
