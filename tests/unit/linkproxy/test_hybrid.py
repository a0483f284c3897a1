"""Hybrid runs: which outages of a scenario take a proxied link down, and when."""

from __future__ import annotations

from types import SimpleNamespace

from xedgesim.linkproxy import CUT
from xedgesim.linkproxy.hybrid import schedule_faults
from xedgesim.scenario import load_scenario_text
from xedgesim.sim.faults import FaultTimeline
from xedgesim.sim.kernel import Kernel
from xedgesim.sim.topology import Topology

S = 1_000_000_000
SCENARIO = """\
name: proxied-faults
duration: 60s
nodes:
  - {id: broker, type: broker}
  - {id: gw1, type: gateway, subscribe: {broker: broker, topics: ["t/#"]}, to: broker}
  - {id: gw2, type: gateway, subscribe: {broker: broker, topics: ["t/#"]}, to: broker}
  - {id: cloud, type: cloud}
faults:
  - {at: 5s, action: link_down, link: [broker, gw1], for: 10s}
  - {at: 12s, action: partition, groups: [[gw1], [broker, cloud]], for: 8s}
  - {at: 30s, action: link_down, link: [gw2, broker], for: 5s}
  - {at: 40s, action: partition, groups: [[gw1, broker], [cloud]], for: 5s}
  - {at: 50s, action: link_down, link: [gw1, broker]}
"""


def context() -> SimpleNamespace:
    scenario = load_scenario_text(SCENARIO, "proxied-faults.yaml")
    timeline = FaultTimeline(scenario.faults, Topology(scenario))
    return SimpleNamespace(timeline=timeline, kernel=Kernel(scenario.duration_ns))


def test_link_downs_and_partitions_between_the_two_merge_into_cut_spans() -> None:
    timeline = context().timeline
    # 5-15 s and the partition 12-20 s overlap; gw2's and the one that keeps gw1 with the
    # broker do not count; the last never ends
    assert timeline.cut_spans("gw1", "broker") == timeline.cut_spans("broker", "gw1") == [
        (5 * S, 20 * S), (50 * S, 2**63 - 1)]
    assert timeline.cut_spans("gw2", "broker") == [(30 * S, 35 * S)]


class FakeProxy:
    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.calls: list[tuple[str, int]] = []

    def down(self, mode: str) -> None:
        self.calls.append((f"down {mode}", self.kernel.now))

    def up(self) -> None:
        self.calls.append(("up", self.kernel.now))


def test_the_proxy_goes_down_and_up_at_the_virtual_times() -> None:
    ctx = context()
    proxy = FakeProxy(ctx.kernel)
    schedule_faults(ctx, "gw1", "broker", proxy)  # type: ignore[arg-type]
    ctx.kernel.run()
    assert proxy.calls == [(f"down {CUT}", 5 * S), ("up", 20 * S), (f"down {CUT}", 50 * S)]
