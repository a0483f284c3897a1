"""Bursty loss (Gilbert–Elliott): the chain per sender instance, batching invariance, and the
stationary loss rate and mean burst length against theory."""

from __future__ import annotations

import itertools
import math

import numpy as np

from tests.theory import mean_and_half_width
from xedgesim.scenario.model import Gilbert
from xedgesim.sim.loss import GilbertChannel, stationary_loss
from xedgesim.sim.streams import RandomStreams

# Student's t quantile t(0.9995, 9): the two-sided 99.9 % interval of a mean over 10 seeds.
# A deterministic test cannot be allowed the 5 % misses of a 95 % interval.
MODEL = Gilbert(p=0.05, r=0.25, loss_bad=0.9, loss_good=0.02)


def _channel(seed: int = 1, count: int = 4, model: Gilbert = MODEL) -> GilbertChannel:
    return GilbertChannel(model, RandomStreams(seed), "s", "cloud", count)


def test_the_chain_is_the_one_step_per_transmission_walk_of_each_instance() -> None:
    """Against a plain loop over the same streams, one transmission at a time."""
    local = np.array([0, 2, 2, 1, 0, 0, 3, 2, 1, 1, 1, 0] * 20)
    lost = _channel().lost(local)
    streams = RandomStreams(1)
    loss_draws = streams.link("s", "cloud", "loss", 4)
    move_draws = streams.link("s", "cloud", "burst", 4)
    bad = [False] * 4
    for i, who in enumerate(local.tolist()):
        u_loss = loss_draws.uniform(np.array([who]))[0]
        u_move = move_draws.uniform(np.array([who]))[0]
        assert lost[i] == (u_loss < (MODEL.loss_bad if bad[who] else MODEL.loss_good))
        bad[who] = u_move >= MODEL.r if bad[who] else u_move < MODEL.p


def test_batching_never_changes_a_draw() -> None:
    local = np.random.default_rng(3).integers(0, 6, 3000)
    whole = _channel(count=6).lost(local)
    pieces = _channel(count=6)
    parts = [pieces.lost(chunk) for chunk in np.array_split(local, [1, 7, 500, 501, 2200])]
    assert np.array_equal(whole, np.concatenate(parts))


def test_stationary_loss_rate_and_mean_burst_length_match_theory(sim) -> None:
    """500 sensors send every 100 ms for 40 s (400 transmissions each) over a link with
    p = 0.05, r = 0.25 (loss_bad 1, loss_good 0), 10 seeds. Theory: a transmission is lost
    when the chain is bad, a fraction p / (p + r) = 1/6 in the long run; starting good, the
    expected fraction over n transmissions is (1/6)(1 - (1 - q^n) / (n (1 - q))), q = 1 - p - r.
    A burst (a run of consecutive losses of one sensor) is a run of bad states: geometric with
    mean 1 / r = 4. Both lie in the 99.9 % Student-t interval of the seeds' estimates."""
    p, r, n = 0.05, 0.25, 400
    rates, bursts = [], []
    for seed in range(1, 11):
        run = sim.run_yaml(f"""
            seed: {seed}
            duration: 40s
            network: {{default: {{latency: 1ms, loss: {{gilbert: {{p: {p}, r: {r}}}}}}}}}
            nodes:
              - {{id: s, type: sensor, count: 500, interval: 100ms, phase: 0s, to: cloud}}
              - {{id: cloud, type: cloud}}
            """, check=False)  # 200,000 messages a seed; accounting is checked elsewhere
        flow = run.flow("s->cloud")
        assert flow["sent"] == 500 * n and flow["in_flight"] == 0
        rates.append(flow["lost"]["random"] / flow["sent"])
        lost = sorted({(row.sender, row.first_sent) for row in run.lost})
        # consecutive transmissions of a sensor are 100 ms apart: another sensor, or a gap,
        # starts a new burst
        runs = 1 + sum(1 for (who, t), (next_who, next_t) in itertools.pairwise(lost)
                       if next_who != who or next_t - t != 100_000_000)
        bursts.append(len(lost) / runs)
    q = 1 - p - r
    expected_rate = p / (p + r) * (1 - (1 - q**n) / (n * (1 - q)))
    assert math.isclose(stationary_loss(Gilbert(p, r)), p / (p + r))
    mean, half = mean_and_half_width(rates)
    assert abs(mean - expected_rate) <= half, (mean, half, expected_rate)
    assert half < 0.005
    mean, half = mean_and_half_width(bursts)
    assert abs(mean - 1 / r) <= half, (mean, half, 1 / r)
    assert half < 0.1


def test_bursty_loss_leaves_independent_loss_draws_alone(sim) -> None:
    """A link with bursty loss and one without: the other link's losses are as before."""
    base = """
        seed: 4
        duration: 20s
        network:
          default: {latency: 1ms, loss: 0.1}
          links: [{between: [b, cloud]%s}]
        nodes:
          - {id: a, type: sensor, count: 10, interval: 100ms, to: cloud}
          - {id: b, type: sensor, count: 10, interval: 100ms, to: cloud}
          - {id: cloud, type: cloud}
        """
    plain = sim.run_yaml(base % "")
    bursty = sim.run_yaml(base % ", loss: {gilbert: {p: 0.2, r: 0.2}}")
    assert plain.flow("a->cloud") == bursty.flow("a->cloud")
    assert bursty.flow("b->cloud")["lost"]["random"] != plain.flow("b->cloud")["lost"]["random"]
