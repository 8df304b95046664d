"""Reads a medallion run's tables from an object store with the Python `deltalake` reader
(delta-rs' Python package, with pyarrow), as a user's notebook would, and prints what the tests
compare with the oracle: row counts, silver's distinct event ids, the quality table's failed
counts per rule, and the number of data files per table.

usage: cloud_read.py RUN_URL OPTIONS_JSON
"""
import json
import os
import sys

from deltalake import DeltaTable


def main():
    url, options = sys.argv[1].rstrip("/"), json.loads(sys.argv[2])
    out = {"rows": {}, "files": {}}
    tables = {}
    for name in ["bronze", "silver", "quarantine", "quality"]:
        t = DeltaTable(f"{url}/{name}", storage_options=options)
        tables[name] = t.to_pyarrow_table()
        out["rows"][name] = tables[name].num_rows
        out["files"][name] = len(t.file_uris())
    out["distinct_event_ids_silver"] = len(set(tables["silver"].column("event_id").to_pylist()))
    failed = {}
    quality = tables["quality"]
    for rule, n in zip(quality.column("rule").to_pylist(), quality.column("failed").to_pylist()):
        failed[rule] = failed.get(rule, 0) + n
    out["failed"] = failed
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
    # deltalake's Azure client threads can abort the interpreter's shutdown ("terminate called
    # without an active exception"); everything is printed, so leave at once.
    os._exit(0)
