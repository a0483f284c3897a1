"""A userspace link emulator: a TCP proxy that makes a connection cross a scenario link.

The kernel here has no ``sch_netem`` (nor has Docker Desktop on macOS), so real traffic
between containers is shaped in userspace: connect to the proxy instead of the server, and
every byte crosses the link's latency, jitter and bandwidth, drawing from the very random
streams the simulator draws that link from, and stops or is cut when the link goes down.
``shaping`` is the model (pure, testable with a fake clock), ``proxy`` the socket loop,
``selfcheck`` the measurement that refuses a proxy that misses its model. See
docs/link-emulation.md.

    from xedgesim import linkproxy
    with linkproxy.start(link_spec, upstream=("10.0.0.2", 1883), framing="mqtt") as proxy:
        connect_to(proxy.address)
        proxy.down("hold"); ...; proxy.up()
"""

from __future__ import annotations

from xedgesim.linkproxy.framing import FRAMINGS, MQTT, SEGMENT, SEGMENT_BYTES
from xedgesim.linkproxy.proxy import (
    BUFFER_BYTES,
    LinkProxyError,
    Proxy,
    ProxyStats,
    serve,
)
from xedgesim.linkproxy.selfcheck import SelfCheck, SelfCheckFailed, require
from xedgesim.linkproxy.shaping import CUT, FAULT_MODES, HOLD, LinkModel, LinkStreams
from xedgesim.scenario.model import LinkSpec

__all__ = [
    "CUT", "FAULT_MODES", "FRAMINGS", "HOLD", "MQTT", "SEGMENT", "LinkModel", "LinkProxyError",
    "LinkStreams", "Proxy", "ProxyStats", "SelfCheck", "SelfCheckFailed", "serve", "start",
]


def start(
    link: LinkSpec | LinkModel,
    upstream: tuple[str, int],
    listen: tuple[str, int] = ("127.0.0.1", 0),
    *,
    streams: LinkStreams | None = None,
    framing: str = SEGMENT,
    fault_mode: str = HOLD,
    check: bool = True,
    buffer_bytes: int = BUFFER_BYTES,
    segment_bytes: int = SEGMENT_BYTES,
) -> Proxy:
    """A running proxy from ``listen`` to ``upstream`` shaped as ``link``.

    ``streams`` names the scenario nodes at both ends (and the seed), so the proxy draws
    their link's jitter streams; ``framing`` says what one delay applies to (``segment`` for
    any TCP, ``mqtt`` for one per MQTT packet); ``fault_mode`` is what ``down()`` does by
    default. With ``check`` (the default) the self-check runs first and ``SelfCheckFailed``
    (exit 2) refuses a proxy that would not meet the model here. A link with a schedule
    (``LinkSpec.schedule``) is refused: the proxy does not change its model while it runs.
    """
    if isinstance(link, LinkSpec) and link.schedule is not None:
        raise LinkProxyError(
            f"the link changes over time (its schedule or trace, {link.schedule.location}), "
            "and the link proxy applies fixed latency, jitter and bandwidth only; remove the "
            "schedule from this link to run it on real containers, or simulate it")
    model = link if isinstance(link, LinkModel) else LinkModel.from_spec(link)
    report = require(model, framing, segment_bytes) if check else None
    proxy = serve(model, upstream, listen, streams=streams, framing=framing,
                  fault_mode=fault_mode, buffer_bytes=buffer_bytes, segment_bytes=segment_bytes)
    proxy.check = report
    return proxy
