"""``buffer:`` (a finite FIFO, on a link or a sender's publish queue) and ``queue:`` (one FIFO
per sender instance, or one shared by all) — docs/simulation.md, "Finite buffers" and
"Shared queues"."""

from __future__ import annotations

from xedgesim.scenario import limits
from xedgesim.scenario.model import Buffer, LinkSpec, NetworkSpec, NodeSpec
from xedgesim.scenario.reader import Reader
from xedgesim.scenario.yaml_tree import YNode, YScalar, describe

QUEUE_KINDS = ("per_sender", "shared")
UNLIMITED = "unlimited"


def read_buffer(reader: Reader, node: YNode, what: str) -> Buffer | str | None:
    """A whole number of messages (``64``) or a size in bytes (``256kB``); ``unlimited`` for
    none (to lift a default link's). ``UNLIMITED`` for that, ``None`` after reporting."""
    scalar = node if isinstance(node, YScalar) else None
    value = None if scalar is None else scalar.value
    if value == UNLIMITED:
        return UNLIMITED
    if isinstance(value, int) and not isinstance(value, bool):
        count = reader.integer(node, what, minimum=1, maximum=limits.MAX_BUFFER_MESSAGES)
        return None if count is None else Buffer(messages=count, location=node.location)
    if not isinstance(value, str):
        reader.report(node, f"{what} must be a number of messages such as 64 or a size such "
                            f"as '256kB', found {describe(node)}")
        return None
    size = reader.size(node, what)
    return None if size is None else Buffer(size_bytes=size, location=node.location)


def queue_problem(spec: LinkSpec) -> str | None:
    """Why ``spec``'s ``buffer`` or ``queue`` cannot hold, or ``None``: a link without a
    bandwidth limit serialises in no time, so nothing ever waits in it."""
    if spec.slowest_bandwidth_bps() is not None:
        return None
    given = [key for key, used in (("buffer", spec.buffer is not None),
                                   ("queue: shared", spec.queue == "shared")) if used]
    if not given:
        return None
    return (f"has {' and '.join(repr(key) for key in given)} but no 'bandwidth': without one a "
            "message is on its way the moment it is sent, so no queue ever forms")


def publish_buffer_problems(reader: Reader, network: NetworkSpec,
                            nodes: tuple[NodeSpec, ...] | list[NodeSpec]) -> None:
    """Report each sender whose publish ``buffer`` has no queue to limit: its link to ``to``
    has no bandwidth limit, or is one FIFO shared by all senders (give the buffer there)."""
    for spec in nodes:
        publish = getattr(spec.params, "publish", None)
        if publish is None or publish.buffer is None:
            continue
        link = network.between(spec.id, publish.to)
        where = publish.buffer.location or spec.location
        what = f"'buffer' of node '{spec.id}'"
        if link.slowest_bandwidth_bps() is None:
            reader.report(where, f"{what} limits its queue on the link to '{publish.to}', which "
                                 "has no 'bandwidth': nothing ever waits there",
                          "give that link a bandwidth, or leave 'buffer' out")
        elif link.queue == "shared":
            reader.report(where, f"{what} limits its own queue on the link to '{publish.to}', "
                                 "but that link has one queue shared by all its senders",
                          "give the buffer on the link, next to 'queue: shared'")
