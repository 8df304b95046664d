#!/usr/bin/env python3
"""The crash-anywhere harness: runs the pipeline over one input, kills it with SIGKILL at random
moments (a random named fault point through MEDALLION_FAULT, or a random time), reruns until a
run completes, and compares every table with the oracle's counts and with an uninterrupted run
of the same scenario. Prints a table: scenario, runs, kills, tables equal to the oracle and to
the uninterrupted run (must be all), time.

  scripts/crash.py [--runs 20] [--kills 3] [--scenarios file-1x2,file-2x2,eventhub-1x2,eventhub-2x2]
                   [--seed S] [--bin target/release/medallion]

Scenarios: SOURCE-PxW = file or eventhub (a `medallion emulator` started here, filled with the
input once), P processes (a loopback cluster) x W workers each. Input: the shared smoke file
(10,000 events) and its expected counts. Needs Python `deltalake` and `pyarrow`.
Exit code 1 if any table differs.
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.compute as pc
from deltalake import DeltaTable

from loopback_hosts import free_ports  # scripts/, beside this file

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT.parent / "shared/workload/smoke/smoke.jsonl"
EXPECTED = ROOT.parent / "shared/workload/smoke/smoke.expected.json"
POINTS = ["parquet_write", "before_commit", "commit", "between_tables", "checkpoint",
          "during_checkpoint", "after_checkpoint"]
# Columns that differ between runs by design (wall-clock times, run ids inside DQX results).
VOLATILE = {"ingest_time", "_errors", "_warnings", "_epoch"}


class Scenario:
    def __init__(self, name, binary, workdir):
        source, shape = name.split("-")
        self.name, self.bin, self.workdir = name, binary, workdir
        self.source = source
        self.processes, self.workers = (int(x) for x in shape.split("x"))
        self.emulator = None
        self.cs = None
        if source == "eventhub":
            self.start_emulator()

    def start_emulator(self):
        log = open(self.workdir / "emulator.log", "w")
        self.emulator = subprocess.Popen(
            [self.bin, "emulator", "--port", "0", "--hub", "weather:4"], stdout=log, stderr=log)
        for _ in range(200):
            text = (self.workdir / "emulator.log").read_text()
            line = next((l for l in text.splitlines() if l.startswith("Endpoint=")), None)
            if line:
                self.cs = line.strip()
                break
            time.sleep(0.05)
        else:
            raise SystemExit("crash.py: the emulator did not start")
        subprocess.run([self.bin, "produce", "--hub", "weather", "--file", str(SMOKE),
                        "--connection-string", self.cs], check=True, capture_output=True)

    def close(self):
        if self.emulator:
            self.emulator.kill()
            self.emulator.wait()

    def args(self, out):
        # ~100 epochs over the smoke file: the first checkpoints (10th commit) come early
        # (checkpoints by count, not by time, so that they come in a run of a few seconds).
        a = ["run", "--workers", str(self.workers), "--epoch-events", "50", "--plain-progress",
             "--checkpoint-interval", "0s", "--out", str(out), "--now", "2026-11-26T12:00:00Z"]
        if self.source == "file":
            return a + ["--source", f"file:{SMOKE}"]
        return a + ["--source", "eventhub", "--hub", "weather", "--stop-when-idle", "2",
                    "--connection-string", self.cs]

    def start(self, out, fault=None, faulty_process=0):
        """Starts the run's processes; `fault` goes to process `faulty_process` only."""
        procs = []
        hostfile = None
        if self.processes > 1:
            hostfile = self.workdir / f"hosts-{random.randrange(1 << 30)}"
            hostfile.write_text("".join(f"127.0.0.1:{port}\n" for port in free_ports(self.processes)))
        for p in range(self.processes):
            env = dict(os.environ)
            env.pop("MEDALLION_FAULT", None)
            if fault and p == faulty_process:
                env["MEDALLION_FAULT"] = fault
            cluster = [] if hostfile is None else [
                "-n", str(self.processes), "-p", str(p), "--hostfile", str(hostfile)]
            log = open(self.workdir / f"stderr-{p}.log", "w")
            procs.append(subprocess.Popen([self.bin] + self.args(out) + cluster, env=env,
                                          stdout=subprocess.DEVNULL, stderr=log))
        return procs

    def errors(self):
        return "".join((self.workdir / f"stderr-{p}.log").read_text()[-3000:]
                       for p in range(self.processes))


def wait_all(procs, deadline=300):
    """Waits for the processes; once one is killed, the others are killed too (a cluster cannot
    go on without a peer). Returns (killed, ok)."""
    start = time.time()
    killed = False
    while any(p.poll() is None for p in procs):
        if any(p.returncode == -signal.SIGKILL for p in procs if p.poll() is not None) or \
                time.time() - start > deadline:
            killed = True
            for p in procs:
                if p.poll() is None:
                    p.kill()
        time.sleep(0.02)
    killed = killed or any(p.returncode == -signal.SIGKILL for p in procs)
    ok = all(p.returncode == 0 for p in procs)
    return killed, ok


def run_to_completion(sc, out, max_kills, rng, duration):
    """Kills up to `max_kills` times (timed kills within `duration`, the uninterrupted run's
    length), then runs to the end. Returns the number of kills."""
    kills = 0
    for _ in range(max_kills):
        if rng.random() < 0.5:
            fault = f"kill@{rng.choice(POINTS)}:{rng.randint(1, 40)}"
            procs = sc.start(out, fault, rng.randrange(sc.processes))
        else:
            procs = sc.start(out)
            time.sleep(rng.uniform(0.02, 0.9) * duration)
            for p in procs:
                if p.poll() is None:
                    p.kill()
        killed, ok = wait_all(procs)
        if killed:
            kills += 1
        elif ok:
            return kills  # finished before any kill point came
        else:
            raise SystemExit(f"crash.py: {sc.name}: a run failed without being killed:\n{sc.errors()}")
    procs = sc.start(out)
    killed, ok = wait_all(procs)
    if not ok:
        raise SystemExit(f"crash.py: {sc.name}: the final run failed:\n{sc.errors()}")
    return kills


def table_rows(out, name):
    t = DeltaTable(str(out / name)).to_pyarrow_table()
    cols = [c for c in t.column_names if c not in VOLATILE]
    t = t.select(cols)
    # Float aggregates are exact sums (views::exact_sum): equal to the last bit however the
    # epochs fell, so rows compare exactly (json.dumps writes a float's shortest round-trip text).
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in t.to_pylist())


def tables(out):
    return sorted(p.name for p in out.iterdir() if (p / "_delta_log").is_dir())


def matches_oracle(out, expected):
    def rows(name):
        return DeltaTable(str(out / name)).to_pyarrow_table()
    silver = rows("silver")
    quality = rows("quality")
    failed = {}
    for rule, n in zip(quality.column("rule").to_pylist(), quality.column("failed").to_pylist()):
        failed[rule] = failed.get(rule, 0) + n
    return (rows("bronze").num_rows == expected["bronze_count"]
            and rows("quarantine").num_rows == expected["quarantine_count"]
            and silver.num_rows == expected["distinct_event_ids_silver"]
            and len(pc.unique(silver.column("event_id"))) == silver.num_rows
            and failed.get("parse", 0) == expected["parse_error_count"]
            and all(failed.get(r, 0) == n for r, n in expected["rule_fail_counts"].items()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--kills", type=int, default=3, help="kills per run before it may finish")
    ap.add_argument("--scenarios", default="file-1x2,file-2x2,eventhub-1x2,eventhub-2x2")
    ap.add_argument("--seed", type=int, default=None)
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    ap.add_argument("--bin", default=os.environ.get("MEDALLION_BIN") or str(target / "release/medallion"),
                    help="the binary (default: $MEDALLION_BIN, else $CARGO_TARGET_DIR or target/, release/medallion)")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.randrange(1 << 32)
    rng = random.Random(seed)
    random.seed(seed)
    expected = json.loads(EXPECTED.read_text())
    print(f"crash.py: seed {seed}", file=sys.stderr)
    results, failed = [], False
    for name in a.scenarios.split(","):
        started = time.time()
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            sc = Scenario(name, a.bin, work)
            try:
                reference = work / "reference"
                t0 = time.time()
                procs = sc.start(reference)
                if not wait_all(procs)[1]:
                    raise SystemExit(f"crash.py: {name}: the uninterrupted run failed:\n{sc.errors()}")
                duration = time.time() - t0
                ref_tables = {t: table_rows(reference, t) for t in tables(reference)}
                kills = oracle_ok = same_ok = 0
                for i in range(a.runs):
                    out = work / f"run{i}"
                    kills += run_to_completion(sc, out, a.kills, rng, duration)
                    oracle = matches_oracle(out, expected)
                    same = tables(out) == sorted(ref_tables) and all(
                        table_rows(out, t) == rows for t, rows in ref_tables.items())
                    oracle_ok += oracle
                    same_ok += same
                    if not (oracle and same):
                        failed = True
                        kept = ROOT / "crash-failures" / f"{name}-run{i}"
                        shutil.copytree(out, kept, dirs_exist_ok=True)
                        print(f"crash.py: {name} run {i}: oracle {oracle}, same as uninterrupted "
                              f"{same} (tables kept in {kept})", file=sys.stderr)
                    print(f"crash.py: {name} run {i + 1}/{a.runs} done", file=sys.stderr)
            finally:
                sc.close()
        results.append((name, a.runs, kills, oracle_ok, same_ok, time.time() - started))
    print("| scenario | runs | kills | tables equal to the oracle | equal to the uninterrupted run | time |")
    print("|---|---|---|---|---|---|")
    for name, runs, kills, oracle_ok, same_ok, secs in results:
        print(f"| {name} | {runs} | {kills} | {oracle_ok}/{runs} | {same_ok}/{runs} | {secs:.0f} s |")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
