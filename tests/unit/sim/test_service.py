"""Processing time (``service:``): the FIFO c-server computation, its place in the run (a node
handles a message when its processing ends), crashes, and M/M/1 and M/M/c waiting times
against Erlang C."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.theory import mean_and_half_width
from xedgesim.sim.network import SATURATED_NS, Mailbox
from xedgesim.sim.service import fifo

MS = 1_000_000
S = 1_000_000_000
# Student's t quantile t(0.9995, dof): the two-sided 99.9 % interval of a mean over seeds.
# A deterministic test cannot be allowed the 5 % misses of a 95 % interval.


def _by_hand(arrival: list[int], work: list[int], servers: int) -> tuple[list[int], list[int]]:
    """Event by event: each message, in arrival order, takes the server that frees first."""
    free = [0] * servers
    starts, ends = [], []
    for when, took in zip(arrival, work, strict=True):
        server = min(range(servers), key=lambda k: free[k])
        start = max(when, free[server])
        free[server] = start + took
        starts.append(start)
        ends.append(start + took)
    return starts, ends


@pytest.mark.parametrize("servers", [1, 2, 5])
def test_fifo_matches_a_message_by_message_walk(servers: int) -> None:
    rng = np.random.default_rng(servers)
    for _ in range(50):
        count = int(rng.integers(1, 60))
        arrival = np.sort(rng.integers(0, 1000, count))
        work = rng.integers(0, 120, count)
        free = np.zeros(servers, dtype=np.int64)
        # In two blocks: the servers' state carries the queue from one to the next.
        half = count // 2
        start_a, end_a = fifo(arrival[:half], work[:half], free)
        start_b, end_b = fifo(arrival[half:], work[half:], free)
        starts, ends = _by_hand(arrival.tolist(), work.tolist(), servers)
        assert np.concatenate([start_a, start_b]).tolist() == starts
        assert np.concatenate([end_a, end_b]).tolist() == ends


def test_one_server_vector_and_loop_agree_and_a_huge_queue_saturates() -> None:
    rng = np.random.default_rng(5)
    arrival = np.sort(rng.integers(0, 10**6, 500))
    work = rng.integers(0, 5000, 500)
    vector = fifo(arrival, work, np.zeros(1, dtype=np.int64))
    assert [v.tolist() for v in vector] == list(_by_hand(arrival.tolist(), work.tolist(), 1))
    huge = np.full(4, 2**61, dtype=np.int64)
    _, end = fifo(np.zeros(4, dtype=np.int64), huge, np.zeros(1, dtype=np.int64))
    assert end.tolist() == [2**61, 2**62, SATURATED_NS, SATURATED_NS]


def test_a_node_handles_a_message_when_its_processing_ends(sim) -> None:
    """A broker with a constant 3 ms service time and one server forwards each message at
    the end of its processing: Lindley's recursion over its arrivals, checked message by
    message on the records; the cloud's end-to-end latency includes it."""
    run = sim.run_yaml("""
        seed: 4
        duration: 5s
        network: {default: {latency: 1ms}}
        nodes:
          - {id: s, type: sensor, count: 20, interval: 50ms, process: poisson, to: b}
          - {id: b, type: broker, service: {time: {constant: 3ms}}}
          - {id: cloud, type: cloud, subscribe: ['#']}
        """)
    arrived = sorted(run.delivered_on("s->b"), key=lambda r: (r.arrival, r.id))
    forwarded = {r.id: r.first_sent for r in run.sent_on("b->cloud")}
    free = 0
    for row in arrived:
        free = max(row.arrival, free) + 3 * MS
        if free < 5 * S:
            assert forwarded.pop(row.id) == free
    assert not forwarded
    waiting = run.result.processing["b"].waiting
    assert waiting.count == run.counter("b", "processed") == run.counter("b", "forwarded")
    assert run.summary["processing_ms"]["b"]["response"]["mean"] >= 3.0
    delivered = run.delivered_on("b->cloud")
    assert all(row.arrival - row.origin >= 4 * MS for row in delivered)


def test_a_crash_discards_what_is_queued_and_in_service(sim) -> None:
    """Ten messages reach a cloud node with 1 s of service each just before it crashes at
    2.5 s: the one in service and the queued ones are discarded, none is handled during the
    outage, and after the restart the servers are idle again."""
    run = sim.run_yaml("""
        seed: 1
        duration: 12s
        nodes:
          - {id: s, type: sensor, count: 5, interval: 1s, phase: 0s, to: cloud}
          - {id: cloud, type: cloud, service: {time: {constant: 1s}, servers: 2}}
        faults:
          - {at: 2500ms, action: crash, node: cloud, for: 4500ms}
        """)
    received = run.counter("cloud", "received")
    processed = run.counter("cloud", "processed")
    discarded = run.counter("cloud", "discarded_in_processing")
    # 5 readings a second at 0, 1, 2 s: two served a second, the rest wait; at 2.5 s 11 are
    # still inside (queued or in service) and are discarded. Readings at 3..6 s are lost on
    # the link; those at 7..11 s find idle servers: 2 per second processed, the last ones
    # still waiting at the end.
    assert received == 15 + 25
    assert discarded == 11
    ends = run.end_to_end("cloud")
    assert processed == ends.count == 4 + 2 * 4
    assert run.flow("s->cloud")["lost"]["node_down"] == 20


def _erlang_c_waiting(arrival_rate: float, mean_service: float, servers: int) -> float:
    """Mean time in queue of M/M/c (Erlang C; Kleinrock, Queueing Systems I, 1975, eq. 3.40):
    with a = λ/μ and ρ = a/c < 1, P(wait) = C(c, a) = (a^c/c! · 1/(1−ρ)) /
    (Σ_{k<c} a^k/k! + a^c/c! · 1/(1−ρ)), and W_q = C(c, a) / (cμ − λ). For c = 1 it is
    ρ/(μ − λ), M/M/1."""
    mu = 1.0 / mean_service
    a = arrival_rate / mu
    rho = a / servers
    top = a**servers / math.factorial(servers) / (1 - rho)
    wait_probability = top / (sum(a**k / math.factorial(k) for k in range(servers)) + top)
    return wait_probability / (servers * mu - arrival_rate)


@pytest.mark.parametrize(("servers", "mean_service_ms"), [(1, 1.75), (3, 5.25)])
def test_mean_waiting_time_is_erlang_c(sim, servers: int, mean_service_ms: float) -> None:
    """M/M/c at ρ = 0.7: 40 Poisson sensors of mean interval 100 ms (their superposition is a
    Poisson process of λ = 400/s) into a cloud node with ``servers`` servers and exponential
    service times. Per seed, the exact mean waiting time (time queued before service, from
    the run's histogram: exact sum and count) over 60 s, about 24,000 messages; over 12
    seeds the Erlang C value lies in the 99.9 % Student-t interval of the seeds' means. The
    run starts empty, a bias of the order of the relaxation time (tens of ms) over 60 s, far
    inside the interval; the interval is also required to be narrow (±10 %), so the test
    would catch an error of that size."""
    means = []
    for seed in range(1, 13):
        run = sim.run_yaml(f"""
            seed: {seed}
            duration: 60s
            nodes:
              - {{id: s, type: sensor, count: 40, interval: 100ms, process: poisson, to: cloud}}
              - {{id: cloud, type: cloud,
                  service: {{time: {{exponential: {mean_service_ms}ms}}, servers: {servers}}}}}
            """, check=False)
        waiting = run.result.processing["cloud"].waiting
        means.append(waiting.total / waiting.count / MS)
    mean, half = mean_and_half_width(means)
    expected = _erlang_c_waiting(400.0, mean_service_ms / 1000, servers) * 1000
    assert abs(mean - expected) <= half, (mean, half, expected)
    assert half < 0.1 * expected, (half, expected)


def test_a_run_with_processing_is_the_same_for_the_same_seed(sim) -> None:
    text = """
        seed: 3
        duration: 20s
        network: {default: {latency: 2ms}}
        nodes:
          - {id: s, type: sensor, count: 30, interval: 100ms, process: poisson, to: gw, qos: 1,
             failures: {mtbf: 8s, mttr: 1s}}
          - {id: gw, type: gateway, aggregate_every: 1s, to: b,
             service: {time: {exponential: 2ms}, servers: 2}, failures: {mtbf: 6s, mttr: 1s}}
          - {id: b, type: broker, service: {time: {uniform: [1ms, 3ms]}}}
          - {id: cloud, type: cloud, subscribe: ['#'],
             service: {time: {normal: {mean: 1ms, std: 1ms}}}}
        """
    first, second = sim.run_yaml(text), sim.run_yaml(text)
    assert first.summary == second.summary
    assert first.counter("gw", "discarded_in_processing") > 0
    assert set(first.summary["processing_ms"]) == {"gw", "b", "cloud"}


# -- inference placement (compute: {at, time, energy}) ------------------------------------------


def test_on_the_device_each_instance_processes_its_readings_in_turn(sim) -> None:
    """150 ms of processing per reading every 100 ms: each sensor's queue grows by 50 ms a
    reading (Lindley per instance), every reading leaves when its processing ends, and the
    sends of the fleet still go out in time order, window by window."""
    run = sim.run_yaml("""
        seed: 2
        duration: 3s
        nodes:
          - {id: s, type: sensor, count: 3, interval: 100ms, phase: 0s, to: cloud,
             compute: {at: device, time: {constant: 150ms}, energy: 2mJ}}
          - {id: cloud, type: cloud}
        """)
    sends = run.sent_on("s->cloud")
    assert [row.sent for row in sends] == sorted(row.sent for row in sends)
    for row in sends:
        index = row.origin // (100 * MS)
        assert row.sent == (index + 1) * 150 * MS
        assert row.first_sent == row.sent
    assert len(sends) == 3 * 19  # ends at 150 ms, ..., 2850 ms; the one at 3 s is not sent
    assert run.counter("s", "processed") == 3 * 19
    assert run.counter("s", "processing_energy_pj") == 3 * 19 * 2_000_000_000
    assert run.summary["processing_ms"]["s"]["waiting"]["max"] == 900.0
    assert min(row.arrival - row.origin for row in run.delivered_on("s->cloud")) == 150 * MS


def test_a_device_crash_discards_the_reading_it_is_processing(sim) -> None:
    run = sim.run_yaml("""
        seed: 1
        duration: 5s
        nodes:
          - {id: s, type: sensor, interval: 1s, phase: 0s, to: cloud,
             compute: {at: device, time: {constant: 400ms}}}
          - {id: cloud, type: cloud}
        faults:
          - {at: 1200ms, action: crash, node: s, for: 1s}
        """)
    # 0 s: sent at 0.4 s; 1 s: discarded by the crash at 1.2 s; 2 s: the sensor is down;
    # 3 s and 4 s: sent 0.4 s later.
    assert [row.sent for row in run.sent_on("s->cloud")] == [400 * MS, 3400 * MS, 4400 * MS]
    assert run.counter("s", "discarded_in_processing") == 1
    assert run.counter("s", "suppressed_while_down") == 1


@pytest.mark.parametrize("at", ["gateway", "cloud"])
def test_at_the_gateway_or_in_the_cloud_the_receiving_node_processes_the_readings(
        sim, at: str) -> None:
    """Readings of the computing sensor take its time in the queue of the broker it publishes
    to (at: gateway) or of the cloud node (at: cloud); the other sensor's readings take none,
    and wait their turn in the same FIFO."""
    run = sim.run_yaml(f"""
        seed: 5
        duration: 4s
        network: {{default: {{latency: 1ms}}}}
        nodes:
          - {{id: mic, type: sensor, count: 2, interval: 200ms, phase: 0s, to: b,
              topic: "kws/{{id}}",
              compute: {{at: {at}, time: {{gateway: {{constant: 30ms}}, cloud: {{constant: 50ms}}}},
                         energy: {{gateway: 1mJ}}}}}}
          - {{id: temp, type: sensor, interval: 500ms, phase: 0s, to: b, topic: temp}}
          - {{id: b, type: broker}}
          - {{id: cloud, type: cloud, subscribe: ['#']}}
        """)
    node, took = ("b", 30 * MS) if at == "gateway" else ("cloud", 50 * MS)
    stats = run.result.processing
    assert set(stats) == {node}
    readings = 2 * 20 + 8
    assert run.counter(node, "processed") == readings
    assert run.counter(node, "processing_energy_pj") == (40 * 10**9 if at == "gateway" else 0)
    # Both microphones arrive at 1 ms past each 200 ms: the first is done 30 (50) ms later,
    # the second waits for it; the temperature reading at 0, 500 ms ... queues behind them
    # when it arrives while they are processed.
    assert stats[node].response.max == 2 * took
    ends = run.end_to_end("cloud")
    assert ends.count == readings
    # The temperature reading at 0 waits behind both microphones' (2 ms of hops besides);
    # the one at 500 ms finds the queue empty.
    assert ends.max == 2 * MS + 2 * took
    assert ends.min == 2 * MS


def test_blocks_of_one_nanosecond_give_the_same_run(sim, monkeypatch) -> None:
    """Handing a node its arrivals and processing ends a nanosecond at a time (the
    event-by-event run) gives the very same results as the blocks the run takes."""
    text = """
        seed: 6
        duration: 1s
        network: {default: {latency: 1ms, jitter: {exponential: 1ms}}}
        nodes:
          - {id: s, type: sensor, count: 10, interval: 20ms, process: poisson, to: b, qos: 1,
             compute: {at: device, time: {exponential: 5ms}}}
          - {id: b, type: broker, service: {time: {exponential: 1ms}, servers: 2}}
          - {id: gw, type: gateway, subscribe: ['#'], aggregate_every: 250ms, to: cloud,
             service: {time: {uniform: [0ms, 2ms]}}}
          - {id: cloud, type: cloud, subscribe: ['#'],
             service: {time: {exponential: 1ms}, servers: 3}}
        faults:
          - {at: 400ms, action: crash, node: b, for: 100ms}
        """
    blocks = sim.run_yaml(text).summary
    original = Mailbox.__init__

    def one_nanosecond(self, network, node, service=None) -> None:
        original(self, network, node, service)
        network.lookahead = 1
        self._bounded = True

    monkeypatch.setattr(Mailbox, "__init__", one_nanosecond)
    assert sim.run_yaml(text).summary == blocks
