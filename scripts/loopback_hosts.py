#!/usr/bin/env python3
"""A loopback hostfile for an N-process cluster on this machine: prints `127.0.0.1:PORT`, one
line per process, with N distinct ports free now.

    python3 scripts/loopback_hosts.py N

The ports lie below the kernel's ephemeral range: a port that binding to port 0 hands out could be
handed out again (to the next call, or as any outgoing connection's own port) before the cluster's
process binds it. Used by scripts/launch-cluster.sh, scripts/crash.py and the tests.
"""
import random
import socket
import sys


def free_ports(n):
    """`n` distinct loopback ports, free now, below the ephemeral range."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.SystemRandom()
    ports = set()
    while len(ports) < n:
        port = rng.randrange(10000, max(low, 10001 + n))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.add(port)
    return sorted(ports)


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit() or int(sys.argv[1]) < 1:
        sys.exit("usage: loopback_hosts.py N   (N >= 1 processes)")
    for port in free_ports(int(sys.argv[1])):
        print(f"127.0.0.1:{port}")
