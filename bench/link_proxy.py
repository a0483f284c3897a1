"""Benchmark: what the link proxy adds, and what it costs, at MQTT-like load.

MQTT PUBLISH packets of ``--size`` bytes, ``--rate`` a second for ``--seconds``, from one
connection to a local sink, each timestamped when sent and when its last byte arrived:

* ``direct``: sender to sink, no proxy (the harness's own delay: two threads, one socket);
* ``zero-delay``: through a proxy with a zero-delay link, segment and mqtt framing; the
  proxy's *added* latency is its p50 minus the direct one (a p99 on a shared machine is the
  scheduler's: compare it with the direct p99 rather than subtract);
* ``5ms link``: through a proxy with ``latency: 5ms`` (mqtt framing), with the loop's final
  spin (``SPIN_NS``) and without it: what the precision of its timers costs in CPU.

The sender and the sink run in a child process, the proxy alone in this one, so the figures
are the proxy's, not the GIL shared with the harness (in a hybrid run it shares the
coordinator's). CPU is the proxy thread's own (user + system, from /proc/self/task: Linux),
as a share of one core over the run.

    python bench/link_proxy.py [--rate 1000] [--seconds 10] [--size 80]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from xedgesim.linkproxy import MQTT, SEGMENT, LinkModel, proxy, serve
from xedgesim.linkproxy.selfcheck import publish_packet, send_spaced

MS = 1_000_000


def sink() -> tuple[socket.socket, list[tuple[int, int]], threading.Thread]:
    """A server recording (bytes so far, monotonic ns) per read of its one connection."""
    server = socket.create_server(("127.0.0.1", 0))
    reads: list[tuple[int, int]] = []

    def serve_one() -> None:
        conn, _ = server.accept()
        total = 0
        with conn:
            while chunk := conn.recv(1 << 16):
                total += len(chunk)
                reads.append((total, time.monotonic_ns()))

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    return server, reads, thread


def arrivals(reads: list[tuple[int, int]], size: int, count: int) -> np.ndarray:
    totals = np.array([r[0] for r in reads], dtype=np.int64)
    times = np.array([r[1] for r in reads], dtype=np.int64)
    last = size * np.arange(1, count + 1, dtype=np.int64)
    return times[np.searchsorted(totals, last, side="left")]


def thread_cpu_s(native_id: int) -> float:
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def harness(pipe: Connection, rate: float, seconds: float, size: int) -> None:
    """The load, in a process of its own: a sink, then paced sends to the address the parent
    names (the sink itself, or a proxy in front of it); sends back the delays in ms."""
    server, reads, receiver = sink()
    pipe.send(server.getsockname()[:2])
    target = pipe.recv()
    sent = send_spaced(target, publish_packet(size), int(rate * seconds), int(1e9 / rate))
    receiver.join(seconds + 30)
    server.close()
    pipe.send((arrivals(reads, size, len(sent)) - sent) / 1e6)


def measure(model: LinkModel | None, framing: str, rate: float, seconds: float, size: int,
            spin_ns: int) -> dict[str, float]:
    """One row: the harness in a child process, the proxy (if any) alone in this one."""
    ours, theirs = multiprocessing.Pipe()
    child = multiprocessing.get_context("spawn").Process(
        target=harness, args=(theirs, rate, seconds, size), daemon=True)
    child.start()
    target = ours.recv()
    proxy.SPIN_NS = spin_ns
    running = None if model is None else serve(model, target, framing=framing)
    try:
        native_id = None if running is None else running._thread.native_id
        cpu_before = 0.0 if native_id is None else thread_cpu_s(native_id)
        started = time.monotonic()
        ours.send(target if running is None else running.address)
        delay = ours.recv()
        wall = time.monotonic() - started
        cpu = 0.0 if native_id is None else thread_cpu_s(native_id) - cpu_before
    finally:
        if running is not None:
            running.close()
        child.join(10)
    return {"p50": float(np.percentile(delay, 50)), "p99": float(np.percentile(delay, 99)),
            "max": float(delay.max()), "cpu": 100 * cpu / wall, "count": len(delay)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="messages a second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", type=int, default=80, help="bytes per PUBLISH packet")
    args = parser.parse_args()
    spin = proxy.SPIN_NS
    rows = [
        ("direct (no proxy)", None, SEGMENT, spin),
        ("zero-delay link, segment", LinkModel(), SEGMENT, spin),
        ("zero-delay link, mqtt", LinkModel(), MQTT, spin),
        (f"5ms link, mqtt, spin {spin // 1000} µs", LinkModel(5 * MS), MQTT, spin),
        ("5ms link, mqtt, no spin", LinkModel(5 * MS), MQTT, 0),
    ]
    print(f"{args.rate:g} msg/s of {args.size} B for {args.seconds:g}s each; "
          f"load average {os.getloadavg()[0]:.1f} at start; latency in ms", flush=True)
    print("| path | p50 | p99 | max | added p50 | proxy CPU (% of a core) |")
    print("|---|---|---|---|---|---|")
    base: dict[str, float] | None = None
    for name, model, framing, spin_ns in rows:
        result = measure(model, framing, args.rate, args.seconds, args.size, spin_ns)
        if base is None:
            base = result
        link_ms = 0.0 if model is None else model.latency_ns / MS
        added = f"{result['p50'] - base['p50'] - link_ms:.3f}" if model is not None else "–"
        cpu = f"{result['cpu']:.1f}" if model is not None else "–"
        print(f"| {name} | {result['p50']:.3f} | {result['p99']:.3f} | {result['max']:.3f} | "
              f"{added} | {cpu} |", flush=True)
    proxy.SPIN_NS = spin
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
