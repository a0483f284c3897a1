"""Finite buffers (drop-tail, loss cause ``overflow``) and shared queues on bandwidth-limited
links: exact behaviour on small cases, and blocking probability and waiting time against
queueing theory."""

from __future__ import annotations

import math
import textwrap

import numpy as np

from tests.theory import mean_and_half_width
from xedgesim.scenario import load_scenario_text
from xedgesim.simulation import simulate

MS = 1_000_000


def _drop_tail(sent: list[int], took: int, capacity: int) -> tuple[list[int], list[int]]:
    """A reference FIFO with one server and room for ``capacity`` messages (the one in
    service included), written as plainly as possible: the departures of the admitted
    messages and the indices of the refused ones."""
    departures: list[int] = []
    admitted_departures: list[int] = []
    refused: list[int] = []
    free = 0
    for index, at in enumerate(sent):
        inside = sum(1 for d in admitted_departures if d > at)
        if inside >= capacity:
            refused.append(index)
            continue
        free = max(at, free) + took
        admitted_departures.append(free)
        departures.append(free)
    return departures, refused


def test_a_full_buffer_refuses_exactly_the_messages_a_plain_drop_tail_fifo_refuses(sim) -> None:
    """One sensor every 1 ms, 2.5 ms on the wire (250 B at 800 kbit/s), room for 3: the
    queue fills, then every few messages one is refused, exactly as the reference says."""
    run = sim.run_yaml("""
        duration: 200ms
        network:
          links: [{between: [s, cloud], bandwidth: 800kbit, buffer: 3}]
        nodes:
          - {id: s, type: sensor, interval: 1ms, phase: 0s, payload: 250B, to: cloud}
          - {id: cloud, type: cloud}
        """)
    sent = [row.sent for row in run.sent_on("s->cloud")]
    departures, refused = _drop_tail(sent, 2_500_000, 3)
    lost = run.lost_on("s->cloud")
    assert [row.sent for row in lost] == [sent[i] for i in refused]
    assert {row.cause for row in lost} == {"overflow"}
    assert run.flow("s->cloud")["lost"]["overflow"] == len(refused) > 0
    delivered = run.delivered_on("s->cloud")
    assert [row.arrival for row in delivered] == [d for d in departures if d < 200 * MS]


def test_a_message_arriving_as_the_last_bit_of_another_leaves_finds_it_gone(sim) -> None:
    """Room for 1 and messages that take exactly 2 ms on the wire (250 B at 1 Mbit/s): sent
    every 2 ms, each leaves at the very instant the next arrives, so none is refused; sent
    1 ns sooner, each finds the one before still there, and every other one is refused."""
    refused = {}
    for interval in ("2ms", "1999999ns"):
        run = sim.run_yaml(f"""
            duration: 100ms
            network:
              links: [{{between: [s, cloud], bandwidth: 1Mbit, buffer: 1}}]
            nodes:
              - {{id: s, type: sensor, interval: {interval}, phase: 0s, payload: 250B,
                 to: cloud}}
              - {{id: cloud, type: cloud}}
            """)
        refused[interval] = run.flow("s->cloud")["lost"]["overflow"]
    assert refused == {"2ms": 0, "1999999ns": 25}


def test_a_byte_buffer_holds_what_fits_in_its_bytes(sim) -> None:
    """150 B of room and 64 B messages: two fit, a third is refused, as with room for 2."""
    base = """
        duration: 300ms
        network:
          links: [{{between: [s, cloud], bandwidth: 64kbit, buffer: {buffer}}}]
        nodes:
          - {{id: s, type: sensor, count: 3, interval: 10ms, process: poisson, to: cloud}}
          - {{id: cloud, type: cloud}}
        """
    in_bytes = sim.run_yaml(base.format(buffer="150B"))
    in_messages = sim.run_yaml(base.format(buffer=2))
    assert in_bytes.flow("s->cloud") == in_messages.flow("s->cloud")
    assert in_bytes.flow("s->cloud")["lost"]["overflow"] > 0


def test_a_sender_buffer_limits_its_own_queue_and_the_tighter_limit_wins(sim) -> None:
    base = """
        duration: 300ms
        network:
          links: [{{between: [s, cloud], bandwidth: 64kbit {link}}}]
        nodes:
          - {{id: s, type: sensor, count: 3, interval: 10ms, process: poisson, to: cloud
              {node}}}
          - {{id: cloud, type: cloud}}
        """
    on_node = sim.run_yaml(base.format(link="", node=", buffer: 2"))
    on_link = sim.run_yaml(base.format(link=", buffer: 2", node=""))
    both = sim.run_yaml(base.format(link=", buffer: 5", node=", buffer: 2"))
    assert on_node.flow("s->cloud") == on_link.flow("s->cloud") == both.flow("s->cloud")
    assert on_node.flow("s->cloud")["lost"]["overflow"] > 0


def test_qos1_messages_refused_by_a_full_buffer_are_retried_like_any_loss(sim) -> None:
    """A refused QoS 1 message is sent again ``retry_interval`` after its attempt; only when
    its retries run out is it lost, as ``overflow``."""
    run = sim.run_yaml("""
        duration: 2s
        network:
          links: [{between: [s, cloud], bandwidth: 64kbit, queue: shared, buffer: 2}]
        nodes:
          - {id: s, type: sensor, count: 20, interval: 100ms, process: poisson, qos: 1,
             retry_interval: 50ms, max_retries: 2, to: cloud}
          - {id: cloud, type: cloud}
        """)
    flow = run.flow("s->cloud")
    assert flow["retransmissions"] > 0 and flow["lost"]["overflow"] > 0
    assert all(row.attempt == 2 for row in run.lost_on("s->cloud"))
    assert any(row.attempt > 0 for row in run.delivered_on("s->cloud"))


def test_overflow_is_reported_only_by_runs_with_a_buffer(sim) -> None:
    plain = sim.run_yaml("""
        duration: 1s
        network: {links: [{between: [s, cloud], bandwidth: 64kbit, queue: shared}]}
        nodes:
          - {id: s, type: sensor, count: 3, interval: 10ms, to: cloud}
          - {id: cloud, type: cloud}
        """)
    assert "overflow" not in plain.flow("s->cloud")["lost"]
    assert "overflow" not in plain.summary["messages"]["lost"]


def test_a_shared_queue_of_one_sender_is_its_own_queue(sim) -> None:
    """With one sender instance, one FIFO per sender and one shared FIFO are the same."""
    base = """
        duration: 2s
        network:
          links: [{{between: [s, cloud], bandwidth: 64kbit, jitter: {{exponential: 1ms}},
                   loss: 0.1 {queue}}}]
        nodes:
          - {{id: s, type: sensor, interval: 5ms, process: poisson, qos: 1, to: cloud}}
          - {{id: cloud, type: cloud}}
        faults:
          - {{at: 500ms, action: link_down, link: [s, cloud], for: 100ms}}
          - {{at: 1200ms, action: crash, node: s, for: 50ms}}
        """
    per_sender = sim.run_yaml(base.format(queue=""))
    shared = sim.run_yaml(base.format(queue=", queue: shared"))
    assert per_sender.summary["flows"] == shared.summary["flows"]
    assert [r.waited for r in per_sender.delivered] == [r.waited for r in shared.delivered]


def test_a_shared_queue_serves_all_senders_one_at_a_time(sim) -> None:
    """Ten sensors emitting at the same instants: per sender, each has the link to itself;
    shared, they wait for one another, the k-th of an instant k × 8 ms."""
    base = """
        duration: 1s
        network:
          links: [{{between: [s, cloud], bandwidth: 64kbit {queue}}}]
        nodes:
          - {{id: s, type: sensor, count: 10, interval: 100ms, phase: 0s, to: cloud}}
          - {{id: cloud, type: cloud}}
        """
    per_sender = sim.run_yaml(base.format(queue=""))
    shared = sim.run_yaml(base.format(queue=", queue: shared"))
    assert {row.waited for row in per_sender.delivered} == {0}
    waits = sorted({row.waited for row in shared.delivered})
    assert waits == [k * 8 * MS for k in range(10)]
    assert shared.flow("s->cloud")["queueing_ms"]["max"] == 72.0


def test_queueing_delay_excludes_serialisation_and_propagation(sim) -> None:
    """Hop latency = wait in the FIFO + serialisation + latency, for every delivered row."""
    run = sim.run_yaml("""
        duration: 2s
        network:
          links: [{between: [s, cloud], latency: 3ms, bandwidth: 64kbit, queue: shared}]
        nodes:
          - {id: s, type: sensor, count: 10, interval: 100ms, process: poisson, to: cloud}
          - {id: cloud, type: cloud}
        """)
    rows = run.delivered_on("s->cloud")
    assert rows and any(row.waited > 0 for row in rows)
    assert all(row.arrival - row.sent == row.waited + 8 * MS + 3 * MS for row in rows)
    waiting = run.flow("s->cloud")["queueing_ms"]
    assert waiting["count"] >= len(rows)
    assert waiting["max"] >= max(row.waited for row in rows) / MS - 0.001


def test_messages_still_travelling_at_the_end_are_recorded_in_flight(sim) -> None:
    """The accounting check (every run_yaml) asserts one ``in_flight`` row per message the
    summary counts in flight; here: a backlog, and a QoS 1 retry due after the end."""
    run = sim.run_yaml("""
        duration: 1s
        network:
          links: [{between: [s, cloud], latency: 5ms, bandwidth: 64kbit, loss: 0.3}]
        nodes:
          - {id: s, type: sensor, count: 3, interval: 5ms, qos: 1, retry_interval: 300ms,
             to: cloud}
          - {id: cloud, type: cloud}
        """)
    travelling = [row for row in run.in_flight if row.flow == "s->cloud"]
    assert len(travelling) == run.flow("s->cloud")["in_flight"] > 0
    assert any(row.attempt > 0 for row in travelling)


def _mg1k_blocking(rate: float, service_s: dict[float, float], capacity: int) -> float:
    """Blocking probability of the M/G/1/K queue (K = ``capacity``, the one in service
    included), service times ``service_s`` (seconds -> probability), computed exactly from
    the chain embedded at departures (Gross & Harris, Fundamentals of Queueing Theory,
    section 5.1.9 / Takagi vol. 1, M/G/1/K): a_j = P(j arrivals during one service); the
    number left behind by a departure, 0 … K-1, is a Markov chain with rows
    P[0] = P[1] = (a_0, a_1, …, tail), P[i] = (0 … 0, a_0, a_1, …, tail) from column i-1;
    with its stationary law π and ρ = λ E[S], the time-average probability of K in the
    system, which is the blocking probability by PASTA, is 1 - 1 / (π_0 + ρ)."""
    size = capacity
    arrivals = [
        sum(p * math.exp(-rate * s) * (rate * s) ** j / math.factorial(j)
            for s, p in service_s.items())
        for j in range(size)
    ]
    chain = np.zeros((size, size))
    for i in range(size):
        first = max(i - 1, 0)
        for j in range(first, size - 1):
            chain[i, j] = arrivals[j - first]
        chain[i, size - 1] = 1 - chain[i, : size - 1].sum()
    # π (P - I) = 0 with Σπ = 1, solved as a least-squares system.
    system = np.vstack([chain.T - np.eye(size), np.ones(size)])
    pi = np.linalg.lstsq(system, np.r_[np.zeros(size), 1.0], rcond=None)[0]
    load = rate * sum(s * p for s, p in service_s.items())
    return 1 - 1 / (pi[0] + load)


def test_the_mg1k_formula_gives_the_mm1k_and_erlang_closed_forms() -> None:
    """The embedded-chain computation above against two closed forms it must reproduce: one
    place (K = 1), any service: ρ / (1 + ρ); and, for exponential service (here a fine
    discretisation of it, so only close), M/M/1/K's (1 - ρ) ρ^K / (1 - ρ^(K+1))."""
    assert math.isclose(_mg1k_blocking(90.0, {0.01: 1.0}, 1), 0.9 / 1.9)
    rate, mean, capacity = 90.0, 0.01, 4
    edges = np.linspace(0, 12 * mean, 4001)
    mass = np.exp(-edges[:-1] / mean) - np.exp(-edges[1:] / mean)
    service = {float(m): float(p) for m, p in zip((edges[:-1] + edges[1:]) / 2, mass,
                                                               strict=True)}
    service[float(edges[-1])] = float(np.exp(-edges[-1] / mean))
    rho = rate * mean
    closed = (1 - rho) * rho ** capacity / (1 - rho ** (capacity + 1))
    assert math.isclose(_mg1k_blocking(rate, service, capacity), closed, rel_tol=2e-3)


def _flow(text: str, name: str) -> dict:
    """One flow of ``summary.json`` for ``text``, simulated without records: the theory
    tests need only the totals, and many seeds of them."""
    return simulate(load_scenario_text(textwrap.dedent(text))).summary()["flows"][name]


def _blocking_per_seed(nodes: str, link: str, flow: str, duration: str) -> list[float]:
    """The fraction of ``flow``'s messages that a full buffer refused, for seeds 1 to 10."""
    fractions = []
    for seed in range(1, 11):
        counts = _flow(f"seed: {seed}\nduration: {duration}\nnetwork:\n  links:\n    - {link}\n"
                       f"nodes:\n{nodes}", flow)
        fractions.append(counts["lost"]["overflow"] / counts["sent"])
    return fractions


def test_md1k_blocking_probability_matches_the_embedded_chain() -> None:
    """M/D/1/K: 100 Poisson sensors at 1/s each into one shared link, so Poisson arrivals at
    λ = 100/s, 9 ms on the wire (90 B at 80 kbit/s), so ρ = 0.9, room for K = 4. Theory: the
    M/G/1/K chain above with one service time, 9.1 % blocked. Each seed (100 s, about 10,000
    messages) estimates the blocking probability; the theory must lie in the 99.9 %
    Student-t interval of the 10 estimates (the run starts empty: a bias of the order
    K / 10,000, far inside it)."""
    fractions = _blocking_per_seed(
        "  - {id: s, type: sensor, count: 100, interval: 1s, process: poisson, payload: 90B, "
        "to: cloud}\n  - {id: cloud, type: cloud}\n",
        "{between: [s, cloud], bandwidth: 80kbit, queue: shared, buffer: 4}", "s->cloud",
        "100s")
    theory = _mg1k_blocking(100.0, {0.009: 1.0}, 4)
    mean, half = mean_and_half_width(fractions)
    assert abs(mean - theory) <= half, (mean, half, theory)
    assert 0.05 < theory < 0.15


def test_mm1k_blocking_probability_with_exponential_sizes_matches_theory() -> None:
    """M/M/1/K: as the M/D/1/K test, with ``payload: {exponential: 90B}``. Sizes are drawn
    rounded up to whole bytes (at least 1), so a message of k bytes (0.1 ms per byte at
    80 kbit/s) has probability e^(-(k-1)/90) - e^(-k/90): the exact service law, given to
    the M/G/1/K chain (ρ ≈ 0.905; M/M/1/K's closed form (1 - ρ) ρ^K / (1 - ρ^(K+1)) at the
    continuous law gives nearly the same, see the test of the chain above). The theory must
    lie in the 99.9 % Student-t interval of 10 seeds of 100 s."""
    fractions = _blocking_per_seed(
        "  - {id: s, type: sensor, count: 100, interval: 1s, process: poisson, "
        "payload: {exponential: 90B}, to: cloud}\n  - {id: cloud, type: cloud}\n",
        "{between: [s, cloud], bandwidth: 80kbit, queue: shared, buffer: 4}", "s->cloud",
        "100s")
    sizes = np.arange(1, 90 * 30)
    law = np.exp(-(sizes - 1) / 90) - np.exp(-sizes / 90)
    theory = _mg1k_blocking(100.0, dict(zip((sizes * 1e-4).tolist(), law.tolist(),
                                            strict=True)), 4)
    mean, half = mean_and_half_width(fractions)
    assert abs(mean - theory) <= half, (mean, half, theory)


def test_mg1k_blocking_probability_with_mixed_sizes_matches_the_embedded_chain() -> None:
    """M/G/1/K: four fleets of 25 Poisson sensors at 1/s each, payloads 30, 60, 120 and
    150 B, publish with no delay to a broker, whose arrivals are then one Poisson stream at
    λ = 100/s (a sum of independent ones); its 80 kbit/s link to the cloud serialises them in
    3, 6, 12 or 15 ms in equal shares (ρ = 0.9), room for K = 3. Theory: the M/G/1/K chain
    with that service law; the same 99.9 % interval over 10 seeds of 40 s (about 4,000
    messages each: the broker's forwarding makes these runs the slower ones)."""
    sizes = (30, 60, 120, 150)
    nodes = "".join(
        f"  - {{id: s{size}, type: sensor, count: 25, interval: 1s, process: poisson, "
        f"payload: {size}B, to: broker}}\n" for size in sizes)
    nodes += ("  - {id: broker, type: broker}\n"
              "  - {id: cloud, type: cloud, subscribe: {broker: broker, topics: ['#']}}\n")
    fractions = _blocking_per_seed(
        nodes, "{between: [broker, cloud], bandwidth: 80kbit, buffer: 3}", "broker->cloud",
        "40s")
    theory = _mg1k_blocking(100.0, {size * 8 / 80_000: 0.25 for size in sizes}, 3)
    mean, half = mean_and_half_width(fractions)
    assert abs(mean - theory) <= half, (mean, half, theory)


def test_poisson_senders_into_one_shared_queue_wait_as_md1_at_the_summed_rate() -> None:
    """N = 50 Poisson sensors at 2/s each into one shared link, 6 ms on the wire (60 B at
    80 kbit/s): one M/D/1 queue at λ = 100/s, ρ = 0.6. Pollaczek–Khinchine: the mean wait
    before service is W = λ D² / (2 (1 - ρ)) = 4.5 ms (Kleinrock, Queueing Systems vol. 1,
    eq. 5.105). Each seed's mean wait (``queueing_ms`` of summary.json, an exact mean) over
    60 s, about 6,000 messages; the theory must lie in the 99.9 % Student-t interval of 10
    seeds."""
    waits = []
    for seed in range(1, 11):
        flow = _flow(f"""
            seed: {seed}
            duration: 60s
            network:
              links: [{{between: [s, cloud], bandwidth: 80kbit, queue: shared}}]
            nodes:
              - {{id: s, type: sensor, count: 50, interval: 500ms, process: poisson,
                 payload: 60B, to: cloud}}
              - {{id: cloud, type: cloud}}
            """, "s->cloud")
        waits.append(flow["queueing_ms"]["mean"])
    rate, service = 100.0, 0.006
    theory_ms = rate * service ** 2 / (2 * (1 - rate * service)) * 1e3
    mean, half = mean_and_half_width(waits)
    assert abs(mean - theory_ms) <= half, (mean, half, theory_ms)
