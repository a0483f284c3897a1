"""Hybrid runs: MQTT between two containers of a scenario crosses the link between them.

A service-mode gateway talks to its broker container directly, over the run's bridge
network, and no Python model sees that traffic. So the coordinator starts a proxy for the
scenario link gateway–broker and tells the gateway container to use it as its broker. Where
the proxy listens, and the address the container is given for it, is ``proxy_place``'s choice:
the run network's gateway address where the bridge is this host's (Linux), this host's
loopback reached as ``host.docker.internal`` where the engine runs in a VM (Docker Desktop).
The proxy reaches the broker container at its address on that network (the published
127.0.0.1 port when the host cannot route to it).

The scenario's ``link_down`` and ``partition`` faults between the two nodes are applied to
the proxy at their virtual times, in ``cut`` mode: as in the simulator, nothing is held for a
cut link (docs/link-emulation.md).
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from xedgesim.linkproxy import CUT, MQTT, LinkStreams, Proxy, start
from xedgesim.linkproxy.proxy import LinkProxyError
from xedgesim.sim.kernel import FAULT

if TYPE_CHECKING:
    from xedgesim.models.base import SimContext

MQTT_PORT = 1883
DOCKER_DESKTOP = "Docker Desktop"  # the engine's info()["OperatingSystem"] on Docker Desktop
HOST_FROM_CONTAINERS = "host.docker.internal"  # a VM engine's name for this host's loopback
LOOPBACK = "127.0.0.1"


def _bind_error(address: str) -> OSError | None:
    """What binding a TCP socket to ``address`` on this host fails with (None: it works)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as probe:
            probe.bind((address, 0))
    except OSError as error:
        return error
    return None


@dataclass(frozen=True)
class ProxyPlace:
    """Where a hybrid run's link proxy listens on this host, and the host (name or address)
    the client's container connects to for it."""

    listen: str
    advertised: str


def proxy_place(engine: Any, network_name: str,
                bind_error: Callable[[str], OSError | None] = _bind_error) -> ProxyPlace:
    """Where the link proxy listens so that the run's containers reach it and nothing beyond
    this host does, decided by what the engine and this host can do:

    * **Docker Desktop** (the engine's ``info()["OperatingSystem"]``; macOS, Windows, Linux):
      the run's bridge is inside Docker Desktop's VM, so none of its addresses is this host's
      (and one that is, a VPN's or a second engine's, is not the bridge); containers reach this
      host's loopback as ``host.docker.internal``. Listen on 127.0.0.1.
    * **The bridge is this host's** (a Linux engine): listen on the run network's gateway
      address, the host's side of the bridge, which every container of the run reaches.
    * **The host cannot take that address** (``EADDRNOTAVAIL``: another VM engine, such as
      Colima): listen on 127.0.0.1 and give ``host.docker.internal``, which VM engines
      forward to this host's loopback. An engine with neither (rootless, remote) leaves the
      gateway without its broker: it never becomes healthy, and ``unreached_hint`` says why.

    Never 0.0.0.0: the proxy is not for other machines. ``bind_error`` (tests) says what
    binding an address on this host fails with, None when it works.
    """
    if engine.info().get("OperatingSystem") == DOCKER_DESKTOP:
        return ProxyPlace(LOOPBACK, HOST_FROM_CONTAINERS)
    network = engine.networks.get(network_name)
    configs = (network.attrs.get("IPAM") or {}).get("Config") or []
    gateway = next((c.get("Gateway") for c in configs if c.get("Gateway")), None)
    if gateway is None:
        raise LinkProxyError(f"the run's network {network_name} has no gateway address for "
                             "the link proxy to listen on")
    error = bind_error(gateway)
    if error is None:
        return ProxyPlace(gateway, gateway)
    if error.errno == errno.EADDRNOTAVAIL:
        return ProxyPlace(LOOPBACK, HOST_FROM_CONTAINERS)
    raise LinkProxyError(f"the link proxy cannot listen on the run network's gateway address "
                         f"{gateway}: {error.strerror or error}")


def proxy_to_broker(context: SimContext, client: str, broker: str,
                    port: int = MQTT_PORT) -> tuple[Proxy, str]:
    """Start the proxy for the link ``client``–``broker``; returns it and the ``host:port``
    the client's container must connect to instead of ``broker:port``."""
    session = context.containers
    if session is None:
        raise LinkProxyError(f"node {client!r}: a link proxy needs the run's containers")
    try:
        place = proxy_place(session.client, session.network_name)
    except LinkProxyError as error:
        raise type(error)(f"node {client!r}: {error}") from None
    try:
        proxy = start(
            context.network.link_spec(client, broker),
            upstream=_broker_address(session, broker, port),
            listen=(place.listen, 0),
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
    return proxy, f"{place.advertised}:{proxy.address[1]}"


def unreached_hint(proxy: Proxy, address: str) -> str:
    """Why a client container that never became healthy may not have: it never reached its
    link proxy at ``address`` (an engine whose containers cannot reach this host there, such
    as a rootless or a remote one). Empty when the proxy did see a connection."""
    try:
        accepted = proxy.stats().accepted
    except LinkProxyError:
        return ""
    if accepted:
        return ""
    return (f"it never reached its link proxy at {address}: this engine's containers cannot "
            "reach this host at that address (docs/link-emulation.md, \"Where the proxy "
            "listens\")")


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
