#!/usr/bin/env python3
"""Microsoft's Python SDK (azure-eventhub) as a foreign producer and consumer in tests.

Usage:
  python_eventhub.py send-by-station CONNECTION_STRING HUB FILE
  python_eventhub.py read CONNECTION_STRING HUB COUNT OUT

send-by-station: each line's bytes are one event body. Lines are grouped by station_id
(stations in sorted order, each station's lines in file order) and each station's lines go
as one batch with the station as partition key, as a producer flushing one device's backlog
at a time does; a batch that would exceed the hub's size limit is split. Lines without a
readable station_id (malformed bodies, missing ids) go last, in batches without a partition
key. Prints `SENT <n>` at the end.

read: receives COUNT events from every partition, from the start, and writes one JSON line
per event to OUT: partition, sequence_number, partition_key (null when the event has none)
and body (hex). Prints `READ <n>`; exits non-zero if fewer arrive within the timeout.
"""
import json
import sys
import threading

import azure.eventhub._pyamqp._platform as platform_opts

# This kernel refuses TCP_MAXSEG, which the SDK copies onto its socket.
platform_opts.KNOWN_TCP_OPTS.discard("TCP_MAXSEG")

from azure.eventhub import (  # noqa: E402
    EventData,
    EventHubConsumerClient,
    EventHubProducerClient,
)

TIMEOUT = 60


def station_of(line):
    try:
        station = json.loads(line).get("station_id")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    return station if isinstance(station, str) and station else None


def send_group(producer, key, lines):
    sent = 0
    batch = producer.create_batch(partition_key=key)
    for line in lines:
        event = EventData(line)
        try:
            batch.add(event)
        except ValueError:  # the batch is full
            producer.send_batch(batch, timeout=TIMEOUT)
            sent += len(batch)
            batch = producer.create_batch(partition_key=key)
            batch.add(event)
    if len(batch):
        producer.send_batch(batch, timeout=TIMEOUT)
        sent += len(batch)
    return sent


def send_by_station(conn_str, hub, path):
    groups = {}
    keyless = []
    with open(path, "rb") as f:
        for line in f:
            line = line[:-1] if line.endswith(b"\n") else line
            station = station_of(line)
            if station is None:
                keyless.append(line)
            else:
                groups.setdefault(station, []).append(line)
    producer = EventHubProducerClient.from_connection_string(conn_str, eventhub_name=hub)
    sent = 0
    with producer:
        for station in sorted(groups):
            sent += send_group(producer, station, groups[station])
        sent += send_group(producer, None, keyless)
    print(f"SENT {sent}", flush=True)


def text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def read(conn_str, hub, count, out):
    received = []
    lock = threading.Lock()
    done = threading.Event()

    def on_event_batch(context, events):
        with lock:
            for e in events:
                received.append({
                    "partition": int(context.partition_id),
                    "sequence_number": e.sequence_number,
                    "partition_key": text(e.partition_key),
                    "body": b"".join(e.body).hex(),
                })
            if len(received) >= count:
                done.set()

    consumer = EventHubConsumerClient.from_connection_string(
        conn_str, consumer_group="$Default", eventhub_name=hub)
    worker = threading.Thread(
        target=lambda: consumer.receive_batch(
            on_event_batch=on_event_batch, starting_position="-1", max_batch_size=1000),
        daemon=True,
    )
    worker.start()
    got_all = done.wait(TIMEOUT)
    consumer.close()
    worker.join(15)
    with open(out, "w") as f:
        for r in received:
            f.write(json.dumps(r) + "\n")
    print(f"READ {len(received)}", flush=True)
    if not got_all:
        sys.exit(f"only {len(received)} of {count} events arrived within {TIMEOUT} s")


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "send-by-station":
        send_by_station(*args)
    elif command == "read":
        read(args[0], args[1], int(args[2]), args[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
