"""Processing keys: a receiving node's ``service:`` and a sensor's ``compute:``.

``service: {time: {exponential: 2ms}, servers: 2}`` puts a FIFO queue with ``servers`` servers
in front of a gateway, broker or cloud node; ``compute: {at: gateway, time: ..., energy: ...}``
says where a sensor's readings are processed and what a step costs (docs/simulation.md,
"Processing time" and "Inference placement"; the run: ``xedgesim/sim/service.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

from xedgesim.scenario import limits
from xedgesim.scenario.distributions import read_distribution
from xedgesim.scenario.model import Compute, Service, Tier
from xedgesim.scenario.reader import Reader, label
from xedgesim.scenario.yaml_tree import YMap, YNode

SERVICE_KEYS = ("time", "servers")
COMPUTE_KEYS = ("at", "time", "energy")
TIERS: tuple[Tier, ...] = ("device", "gateway", "cloud")
SERVICE_EXAMPLE = "{time: {exponential: 2ms}, servers: 1}"
COMPUTE_EXAMPLE = "{at: gateway, time: {constant: 40ms}, energy: 0J}"
T = TypeVar("T")


def read_service(reader: Reader, node: YNode, context: str) -> Service | None:
    """A service time distribution (a duration) and a number of servers (default 1)."""
    what = label("service", context)
    ymap = reader.mapping(node, what, SERVICE_EXAMPLE)
    if ymap is None:
        return None
    reader.check_keys(ymap, SERVICE_KEYS, what)
    time_node = reader.require(ymap, "time", what)
    time = None if time_node is None else read_distribution(
        reader, time_node, f"'time' of {what}", "duration")
    servers: int | None = 1
    if "servers" in ymap:
        servers = reader.integer(ymap.entries["servers"].value, f"'servers' of {what}",
                                 minimum=1, maximum=limits.MAX_SERVERS)
    if time is None or servers is None:
        return None
    return Service(time, servers)


def read_compute(reader: Reader, node: YNode, context: str) -> Compute | None:
    """Where the readings are processed, the time of one step there and its energy.

    ``time`` and ``energy`` are one value, or one per place (``{device: ..., gateway: ...,
    cloud: ...}``) so that a placement study is one sweep over ``at``; the run gets the
    values of the place ``at`` names (energy 0 J where none is given).
    """
    what = label("compute", context)
    ymap = reader.mapping(node, what, COMPUTE_EXAMPLE)
    if ymap is None:
        return None
    reader.check_keys(ymap, COMPUTE_KEYS, what)
    at_node = reader.require(ymap, "at", what)
    at = None if at_node is None else reader.choice(at_node, f"'at' of {what}", TIERS)
    time_node = reader.require(ymap, "time", what)
    time = None if time_node is None else _per_place(
        reader, time_node, f"'time' of {what}", at,
        lambda value, where: read_distribution(reader, value, where, "duration"))
    energy: int | None = 0
    if "energy" in ymap:
        energy = _per_place(reader, ymap.entries["energy"].value, f"'energy' of {what}", at,
                            lambda value, where: _energy(reader, value, where), default=0)
    if at is None or time is None or energy is None:
        return None
    return Compute(cast(Tier, at), time, energy)


def _per_place(reader: Reader, node: YNode, what: str, at: str | None,
               read: Callable[[YNode, str], T | None], default: T | None = None) -> T | None:
    """One value for every place, or a mapping from places to values: the value for ``at``
    (``default`` when the mapping leaves it out; without a default, an error)."""
    if not (isinstance(node, YMap) and node.entries
            and all(key in TIERS for key in node.entries)):
        return read(node, what)
    values = {key: read(entry.value, f"the {key} value of {what}")
              for key, entry in node.entries.items()}
    if at is None or any(value is None for value in values.values()):
        return None
    if at not in values:
        if default is None:
            reader.report(node, f"{what} gives no value for '{at}', where 'at' places it",
                          f"add {at}: ... or give one value for every place")
        return default
    return values[at]


def _energy(reader: Reader, node: YNode, what: str) -> int | None:
    energy = reader.energy(node, what)
    if energy is not None and energy > limits.MAX_STEP_ENERGY_PJ:
        reader.report(node, f"{what} must be at most 1,000,000 J",
                      "see 'Limits' in docs/scenario.md")
        return None
    return energy
