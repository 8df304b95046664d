#!/usr/bin/env python3
"""Send a JSON-lines file to an event hub with Microsoft's Python SDK, one batch per station.

Usage: python_send_by_station.py CONNECTION_STRING HUB FILE

Each line's bytes are one event body. Lines are grouped by station_id (stations in sorted order, each station's lines in file
order) and each station's lines go as one batch with the station as partition key, as a
producer flushing one device's backlog at a time does; a batch that would exceed the
hub's size limit is split. Lines without a readable station_id (malformed bodies, missing
ids) go last, in batches without a partition key. Prints `SENT <n>` at the end.
"""
import json
import sys

import azure.eventhub._pyamqp._platform as platform_opts

# This kernel refuses TCP_MAXSEG, which the SDK copies onto its socket.
platform_opts.KNOWN_TCP_OPTS.discard("TCP_MAXSEG")

from azure.eventhub import EventData, EventHubProducerClient  # noqa: E402

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


def main():
    conn_str, hub, path = sys.argv[1:4]
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


if __name__ == "__main__":
    main()
