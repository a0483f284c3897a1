"""Benchmark: the cost of lockstep, one ADVANCE round trip of the node protocol.

Every delivered block and every window end of a protocol node is one request and one reply
(docs/protocol.md), so the round trip bounds how fast a run with container nodes can go. The
aim: under 200 µs, i.e. 10k lockstep steps in under 2 s. Measured over ``--steps`` ADVANCEs
(each with ``--rows`` inbound readings, every 10th a window end), after a warm-up:

* a local process over stdio, and over TCP on loopback (no Docker: the floor);
* the gateway container through its published 127.0.0.1 port (docker-proxy on the way);
* the same container at its address on the run's bridge network (no proxy).

    python bench/protocol_roundtrip.py [--steps 10000] [--rows 1] [--image xedgesim/gateway:latest]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from xedgesim.docker.protocol import ProtocolClient
from xedgesim.services.protocol import DEFAULT_PORT, INBOUND_FIELDS, rows_from_arrays

SERVER = [sys.executable, "-m", "xedgesim.services.protocol"]
GATEWAY: dict[str, Any] = {"kind": "gateway", "params": {"aggregate_every_ns": 10**10}}
WARM_UP = 200


def rows(count: int, first_id: int) -> list[dict[str, Any]]:
    values = 20.0 + np.arange(count) / 7
    return rows_from_arrays(
        INBOUND_FIELDS, id=np.arange(first_id, first_id + count), value=values, vmin=values,
        vmax=values, n=np.ones(count, dtype=np.int64),
        origin_ns=np.full(count, first_id, dtype=np.int64))


def measure(client: ProtocolClient, steps: int, count: int) -> list[float]:
    """Round trips in µs; the rows are encoded inside the timing, as a run does."""
    timings = []
    t = 0
    for step in range(WARM_UP + steps):
        t += 1000
        started = time.perf_counter()
        client.advance(t, rows(count, step * count), flush=step % 10 == 9)
        elapsed = time.perf_counter() - started
        if step >= WARM_UP:
            timings.append(elapsed * 1e6)
    return timings


def report(name: str, timings: list[float]) -> dict[str, float]:
    ordered = sorted(timings)
    figures = {
        "median_us": statistics.median(ordered),
        "p95_us": ordered[int(0.95 * (len(ordered) - 1))],
        "mean_us": statistics.fmean(ordered),
        "total_s": sum(ordered) / 1e6,
    }
    print(f"{name:<34} {figures['median_us']:>9.1f} {figures['p95_us']:>9.1f} "
          f"{figures['mean_us']:>9.1f} {figures['total_s']:>9.2f}")
    return figures


def local_stdio(steps: int, count: int) -> list[float]:
    client = ProtocolClient.spawn("bench", [*SERVER, "--stdio"], **GATEWAY)
    try:
        return measure(client, steps, count)
    finally:
        client.shutdown()
        client.close()


def local_tcp(steps: int, count: int) -> list[float]:
    process = subprocess.Popen([*SERVER, "--listen", "127.0.0.1:0"], stderr=subprocess.PIPE)
    try:
        assert process.stderr is not None
        port = int(process.stderr.readline().decode().rsplit(":", 1)[1])
        client = ProtocolClient.connect("bench", ("127.0.0.1", port), **GATEWAY)
        try:
            return measure(client, steps, count)
        finally:
            client.shutdown()
            client.close()
    finally:
        process.wait(timeout=5)


def container_paths(image: str, steps: int, count: int) -> dict[str, list[float]]:
    """One gateway container, measured through docker-proxy and then on the bridge."""
    from xedgesim.docker.containers import ContainerSession, ContainerSpec, new_run_id
    from xedgesim.docker.gateway import ProtocolGatewayNode

    results: dict[str, list[float]] = {}
    with ContainerSession(new_run_id()) as session:
        running = session.start(ContainerSpec(
            node="bench", image=image, command=list(ProtocolGatewayNode.command),
            ports=(DEFAULT_PORT,)))
        published = running.address(DEFAULT_PORT)
        running.container.reload()
        networks = running.container.attrs["NetworkSettings"]["Networks"]
        bridge = (networks[session.network_name]["IPAddress"], DEFAULT_PORT)
        for name, address in ((f"container, published {published[0]}:{published[1]}",
                               published),
                              (f"container, bridge {bridge[0]}:{bridge[1]}", bridge)):
            # A session per connection: closing without SHUTDOWN lets the node take the next.
            client = ProtocolClient.connect("bench", address, **GATEWAY)
            try:
                results[name] = measure(client, steps, count)
            finally:
                client.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=1, help="inbound readings per ADVANCE")
    parser.add_argument("--image", default="xedgesim/gateway:latest")
    options = parser.parse_args()
    print(f"ADVANCE round trips, {options.steps} steps, {options.rows} row(s) each "
          f"(every 10th a window end); µs")
    print(f"{'path':<34} {'median':>9} {'p95':>9} {'mean':>9} {'total s':>9}")
    paths: dict[str, Callable[[], list[float]]] = {
        "local process, stdio": lambda: local_stdio(options.steps, options.rows),
        "local process, TCP 127.0.0.1": lambda: local_tcp(options.steps, options.rows),
    }
    for name, run in paths.items():
        report(name, run())
    try:
        containers = container_paths(options.image, options.steps, options.rows)
    except Exception as error:  # no engine or no image: the local figures still stand
        print(f"container paths skipped: {error}")
        return
    for name, timings in containers.items():
        report(name, timings)


if __name__ == "__main__":
    main()
