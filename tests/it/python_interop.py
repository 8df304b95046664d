#!/usr/bin/env python3
"""Interop test of the Event Hubs emulator with Microsoft's Python SDK.

Usage: python_interop.py [CONNECTION_STRING | EMULATOR COMMAND...]

Without a connection string it starts the emulator command (default
`target/release/medallion emulator`) on a free port with hub weather:4 and reads
the printed connection string. Exits non-zero on any mismatch.
"""
import os
import subprocess
import sys
import threading
import time

import azure.eventhub._pyamqp._platform as platform_opts

# This kernel refuses TCP_MAXSEG, which the SDK copies onto its socket.
platform_opts.KNOWN_TCP_OPTS.discard("TCP_MAXSEG")

from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient  # noqa: E402

HUB = "weather"
PARTITIONS = 4
BATCH = 100
SINGLES = 5
SINGLE_PARTITION = "2"
TIMEOUT = 60

failures = []


def check(cond, what):
    status = "ok  " if cond else "FAIL"
    print(f"[{status}] {what}", flush=True)
    if not cond:
        failures.append(what)


def start_emulator(command):
    proc = subprocess.Popen(
        command + ["--port", "0", "--hub", f"{HUB}:{PARTITIONS}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("Endpoint="):
            # Keep draining output so the emulator never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, line.strip()
    proc.kill()
    raise SystemExit("emulator did not print a connection string")


def main():
    args = sys.argv[1:] or [
        os.path.join(os.path.dirname(__file__), "..", "target", "release", "medallion"), "emulator"]
    proc = None
    if args[0].startswith("Endpoint="):
        conn_str = args[0]
    else:
        proc, conn_str = start_emulator(args)
    print("connection string:", conn_str, flush=True)
    try:
        run(conn_str)
    finally:
        if proc:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    if failures:
        print(f"\nFAILED: {len(failures)} check(s)")
        for f in failures:
            print("  -", f)
        sys.exit(1)
    print("\nALL CHECKS PASSED")


def run(conn_str):
    producer = EventHubProducerClient.from_connection_string(conn_str, eventhub_name=HUB)
    with producer:
        t0 = time.time()
        props = producer.get_eventhub_properties()
        print("hub properties:", props)
        check(props["eventhub_name"] == HUB, "hub name")
        check(list(props["partition_ids"]) == [str(i) for i in range(PARTITIONS)], "partition ids")

        batch = producer.create_batch(partition_key="station-7")
        for i in range(BATCH):
            ev = EventData(f"batch-{i}")
            ev.properties = {"i": i}
            batch.add(ev)
        producer.send_batch(batch, timeout=TIMEOUT)
        for i in range(SINGLES):
            producer.send_event(EventData(f"single-{i}"), partition_id=SINGLE_PARTITION, timeout=TIMEOUT)

        print(f"send phase: {time.time() - t0:.1f}s", flush=True)
        per_partition = {}
        for pid in props["partition_ids"]:
            pp = producer.get_partition_properties(pid)
            per_partition[pid] = pp
            print("partition properties:", pp)
            check(pp["eventhub_name"] == HUB and pp["id"] == pid, f"partition {pid} identity")
    sent_total = BATCH + SINGLES
    stored = sum(
        pp["last_enqueued_sequence_number"] + 1 for pp in per_partition.values()
    )
    check(stored == sent_total, f"partition properties count {stored} events (expected {sent_total})")
    check(per_partition[SINGLE_PARTITION]["last_enqueued_sequence_number"] >= SINGLES - 1,
          "explicit partition received the single events")
    empty = [pid for pid, pp in per_partition.items() if pp["is_empty"]]
    check(all(per_partition[p]["last_enqueued_sequence_number"] == -1 for p in empty),
          "empty partitions report last sequence number -1")

    received = {}
    lock = threading.Lock()
    done = threading.Event()

    def on_event_batch(partition_context, events):
        with lock:
            received.setdefault(partition_context.partition_id, []).extend(events)
            if sum(len(v) for v in received.values()) >= sent_total:
                done.set()

    # The sync consumer polls its partitions in one thread, each poll blocking
    # up to socket_timeout on an idle partition; batches keep that cost per
    # batch instead of per event.
    consumer = EventHubConsumerClient.from_connection_string(
        conn_str, consumer_group="$Default", eventhub_name=HUB)
    worker = threading.Thread(
        target=lambda: consumer.receive_batch(
            on_event_batch=on_event_batch, starting_position="-1", max_batch_size=300),
        daemon=True,
    )
    started = time.time()
    worker.start()
    got_all = done.wait(TIMEOUT)
    print(f"receive phase: {time.time() - started:.1f}s, per partition:",
          {k: len(v) for k, v in sorted(received.items())}, flush=True)
    consumer.close()
    worker.join(15)

    total = sum(len(v) for v in received.values())
    check(got_all and total == sent_total, f"received {total} events (expected {sent_total})")
    batch_bodies = []
    for pid, events in sorted(received.items()):
        seqs = [e.sequence_number for e in events]
        check(seqs == list(range(len(events))), f"partition {pid}: sequence numbers 0..{len(events) - 1}")
        offsets = [int(e.offset) for e in events]
        check(offsets == sorted(set(offsets)), f"partition {pid}: offsets increase")
        check(all(e.enqueued_time is not None for e in events), f"partition {pid}: enqueued times present")
        for e in events:
            body = e.body_as_str()
            if body.startswith("batch-"):
                batch_bodies.append(body)
                check_key = e.partition_key in ("station-7", b"station-7")
                if not check_key:
                    check(False, f"partition key of {body}: {e.partition_key!r}")
                if e.properties.get(b"i", e.properties.get("i")) != int(body.split("-")[1]):
                    check(False, f"application property of {body}: {e.properties!r}")
            elif pid != SINGLE_PARTITION:
                check(False, f"single event {body} on partition {pid}")
    check(sorted(batch_bodies) == sorted(f"batch-{i}" for i in range(BATCH)), "batch bodies round-trip")
    batch_partitions = {pid for pid, ev in received.items() if any(e.body_as_str().startswith("batch-") for e in ev)}
    check(len(batch_partitions) == 1, f"a partition key maps to one partition ({sorted(batch_partitions)})")
    singles = [e.body_as_str() for e in received.get(SINGLE_PARTITION, []) if e.body_as_str().startswith("single-")]
    check(singles == [f"single-{i}" for i in range(SINGLES)], "single events in order on the explicit partition")


if __name__ == "__main__":
    main()
