"""Hybrid runs: where the proxy listens and what the container is told, on each kind of engine
(fake engines: no Docker); which outages of a scenario take a proxied link down, and when."""

from __future__ import annotations

import errno
import os
from types import SimpleNamespace
from typing import Any

import pytest

from xedgesim.linkproxy import CUT, LinkProxyError
from xedgesim.linkproxy.hybrid import ProxyPlace, proxy_place, schedule_faults, unreached_hint
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


class FakeEngine:
    """What ``proxy_place`` asks of the docker client: ``info()`` and the run's network."""

    def __init__(self, operating_system: str, gateway: str | None = "172.19.0.1") -> None:
        self.operating_system = operating_system
        self.gateway = gateway
        self.networks = SimpleNamespace(get=self.network)

    def info(self) -> dict[str, Any]:
        return {"OperatingSystem": self.operating_system, "OSType": "linux"}

    def network(self, name: str) -> SimpleNamespace:
        assert name == "xedgesim-run"
        configs = [{"Subnet": "172.19.0.0/16", "Gateway": self.gateway}] if self.gateway else []
        return SimpleNamespace(attrs={"IPAM": {"Config": configs}})


def binds(failing: dict[str, int]) -> Any:
    """A host on which binding the addresses in ``failing`` fails with that errno."""
    def bind_error(address: str) -> OSError | None:
        code = failing.get(address)
        return None if code is None else OSError(code, os.strerror(code))
    return bind_error


def test_on_a_linux_engine_the_proxy_listens_on_the_bridge_the_containers_share() -> None:
    place = proxy_place(FakeEngine("Ubuntu 24.04.1 LTS"), "xedgesim-run", binds({}))
    assert place == ProxyPlace(listen="172.19.0.1", advertised="172.19.0.1")


def test_on_docker_desktop_it_listens_on_loopback_and_containers_use_the_host_name() -> None:
    # even if this host happens to have the bridge's address (a VPN, a second engine): the
    # containers' 172.19.0.1 is inside Docker Desktop's VM, not here
    for failing in ({}, {"172.19.0.1": errno.EADDRNOTAVAIL}):
        place = proxy_place(FakeEngine("Docker Desktop"), "xedgesim-run", binds(failing))
        assert place == ProxyPlace(listen="127.0.0.1", advertised="host.docker.internal")


def test_an_engine_whose_bridge_this_host_cannot_take_gets_the_loopback_too() -> None:
    place = proxy_place(FakeEngine("Ubuntu 24.04 (containerd)"), "xedgesim-run",
                        binds({"172.19.0.1": errno.EADDRNOTAVAIL}))
    assert place == ProxyPlace(listen="127.0.0.1", advertised="host.docker.internal")


def test_the_proxy_never_listens_on_every_interface() -> None:
    for engine, failing in ((FakeEngine("Docker Desktop"), {}),
                            (FakeEngine("Debian"), {}),
                            (FakeEngine("Debian"), {"172.19.0.1": errno.EADDRNOTAVAIL})):
        assert proxy_place(engine, "xedgesim-run", binds(failing)).listen not in ("0.0.0.0", "")


def test_other_failures_to_take_the_bridge_address_are_refused_with_the_reason() -> None:
    with pytest.raises(LinkProxyError, match=r"gateway address 172\.19\.0\.1: .*in use") as refused:
        proxy_place(FakeEngine("Debian"), "xedgesim-run",
                    binds({"172.19.0.1": errno.EADDRINUSE}))
    assert refused.value.exit_code == 2
    with pytest.raises(LinkProxyError, match="xedgesim-run has no gateway address"):
        proxy_place(FakeEngine("Debian", gateway=None), "xedgesim-run", binds({}))


def test_this_hosts_loopback_binds_and_an_address_it_lacks_does_not() -> None:
    from xedgesim.linkproxy.hybrid import _bind_error

    assert _bind_error("127.0.0.1") is None
    lacking = _bind_error("192.0.2.1")  # TEST-NET-1: no host has it
    assert lacking is not None and lacking.errno == errno.EADDRNOTAVAIL


class _Proxy:
    def __init__(self, accepted: int | None) -> None:
        self.accepted = accepted

    def stats(self) -> Any:
        if self.accepted is None:
            raise LinkProxyError("its loop died")
        return SimpleNamespace(accepted=self.accepted)


def test_a_gateway_that_never_reached_its_proxy_is_told_apart() -> None:
    """A service-mode gateway that never became healthy gets this hint in its error when the
    proxy saw no connection (its engine's containers cannot reach this host there); not when
    it did, nor when the proxy cannot say."""
    hint = unreached_hint(_Proxy(0), "host.docker.internal:41234")
    assert hint.startswith("it never reached its link proxy at host.docker.internal:41234")
    assert "Where the proxy listens" in hint
    assert unreached_hint(_Proxy(2), "172.18.0.1:41234") == ""
    assert unreached_hint(_Proxy(None), "172.18.0.1:41234") == ""
