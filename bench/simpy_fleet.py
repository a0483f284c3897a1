"""The "sensor fleet" workload written as idiomatic SimPy, for a side-by-side comparison.

N sensors each emit every 1 s (first emission uniform in [0, 1)); each message crosses a link
of 5 ms + exponential jitter (mean 2 ms) with 1 % loss to one gateway, which every 10 s sends an
aggregate over a 20 ms link to the cloud. Events = emissions + deliveries + aggregates.

Prints one JSON line: {"events": ..., "wall_s": ...}.
"""

from __future__ import annotations

import json
import random
import sys
import time

import simpy


def run(sensors: int, duration_s: float = 60.0, seed: int = 42) -> dict:
    env = simpy.Environment()
    rng = random.Random(seed)
    counts = {"emissions": 0, "deliveries": 0, "aggregates": 0}
    window: list[float] = []

    def transmit(value: float):
        yield env.timeout(0.005 + rng.expovariate(1 / 0.002))
        counts["deliveries"] += 1
        window.append(value)

    def sensor():
        yield env.timeout(rng.random())
        while True:
            counts["emissions"] += 1
            if rng.random() >= 0.01:
                env.process(transmit(rng.gauss(20.0, 2.0)))
            yield env.timeout(1.0)

    def to_cloud(mean: float):
        yield env.timeout(0.020)

    def gateway():
        while True:
            yield env.timeout(10.0)
            if window:
                counts["aggregates"] += 1
                env.process(to_cloud(sum(window) / len(window)))
                window.clear()

    for _ in range(sensors):
        env.process(sensor())
    env.process(gateway())
    started = time.perf_counter()
    env.run(until=duration_s)
    wall = time.perf_counter() - started
    return {"events": sum(counts.values()), "wall_s": wall, **counts}


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]))))
