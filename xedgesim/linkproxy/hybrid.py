"""Hybrid runs: MQTT between two containers of a scenario crosses the link between them.

A service-mode gateway talks to its broker container directly, over the run's bridge
network, and no Python model sees that traffic. So the coordinator starts a proxy for the
scenario link gateway–broker, listening on the run network's gateway address (the host's side
of the bridge: every container of the run reaches it, nothing outside the host does), and
tells the gateway container to use it as its broker. The proxy reaches the broker container at
its address on that network (the published 127.0.0.1 port when the host cannot route to it).

The scenario's ``link_down`` and ``partition`` faults between the two nodes are applied to
the proxy at their virtual times, in ``cut`` mode: as in the simulator, nothing is held for a
cut link (docs/link-emulation.md).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from xedgesim.linkproxy import CUT, MQTT, LinkStreams, Proxy, start
from xedgesim.linkproxy.proxy import LinkProxyError
from xedgesim.sim.kernel import FAULT

if TYPE_CHECKING:
    from xedgesim.models.base import SimContext

MQTT_PORT = 1883


def proxy_to_broker(context: SimContext, client: str, broker: str,
                    port: int = MQTT_PORT) -> tuple[Proxy, str]:
    """Start the proxy for the link ``client``–``broker``; returns it and the ``host:port``
    the client's container must connect to instead of ``broker:port``."""
    session = context.containers
    if session is None:
        raise LinkProxyError(f"node {client!r}: a link proxy needs the run's containers")
    network = session.client.networks.get(session.network_name)
    configs = (network.attrs.get("IPAM") or {}).get("Config") or []
    gateway = next((c.get("Gateway") for c in configs if c.get("Gateway")), None)
    if gateway is None:
        raise LinkProxyError(
            f"node {client!r}: the run's network {session.network_name} has no gateway "
            "address for the link proxy to listen on")
    try:
        proxy = start(
            context.network.link_spec(client, broker),
            upstream=_broker_address(session, broker, port),
            listen=(gateway, 0),
            streams=LinkStreams(seed=context.scenario.seed, client=client, server=broker),
            framing=MQTT,
            fault_mode=CUT,
        )
    except LinkProxyError as error:  # say which link of the scenario it was
        raise type(error)(f"the link {client}–{broker}: {error}") from None
    try:
        schedule_faults(context, client, broker, proxy)
    except BaseException:
        proxy.close()
        raise
    return proxy, f"{gateway}:{proxy.address[1]}"


def _broker_address(session: Any, broker: str, port: int) -> tuple[str, int]:
    running = next((r for r in session.running if r.node == broker), None)
    if running is None:
        raise LinkProxyError(f"the link proxy to {broker!r} needs its container started first")
    networks = running.container.attrs.get("NetworkSettings", {}).get("Networks", {})
    ip = (networks.get(session.network_name) or {}).get("IPAddress")
    if ip and _routable(ip, port):
        return ip, port
    return running.address(port)


def _routable(ip: str, port: int) -> bool:
    """Can this host open a connection to a container's own address (not on Docker Desktop)?"""
    import socket

    try:
        with socket.create_connection((ip, port), timeout=1.0):
            return True
    except OSError:
        return False


def schedule_faults(context: SimContext, a: str, b: str, proxy: Proxy) -> None:
    """Take the proxy down and up at the virtual times the scenario cuts the link a–b."""
    kernel = context.kernel
    for start_ns, end_ns in context.timeline.cut_spans(a, b):
        kernel.schedule(start_ns, FAULT, lambda _: proxy.down(CUT))
        kernel.schedule(end_ns, FAULT, lambda _: proxy.up())


def report(proxy: Proxy) -> dict[str, Any]:
    """What a run's proxy did, for its ``summary.json`` (``link_proxies``): the self-check it
    passed, what crossed each direction, what a cut dropped, and what became of connections.
    A proxy whose loop has died says why instead of counting."""
    try:
        stats = proxy.stats()
    except LinkProxyError as error:
        return {"error": str(error)}
    return {
        "fault_mode": proxy.fault_mode,
        "self_check": proxy.check.to_dict() if proxy.check is not None else None,
        "upstream": asdict(stats.upstream),
        "downstream": asdict(stats.downstream),
        "connections": {"accepted": stats.accepted, "cut": stats.cut,
                        "refused": stats.refused, "failed": stats.failed},
    }
