"""A node's ``energy:`` key: what its radio and its sleep cost, and its battery.

```yaml
energy: {tx_per_message: 1.536uJ, tx_per_byte: 153.6nJ, idle: 4.5uW, battery: 0.675Wh}
```

Every key has a default: the figures of a Nordic nRF52840 at 3 V sending Bluetooth LE at
1 Mbit/s (below, and docs/simulation.md, "Energy and battery"), so ``energy: {battery: 2kJ}``
is a complete sensor. Values are kept in whole picojoules and picowatts: the run adds them as
integers, exactly (xedgesim/sim/energy.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

from xedgesim.scenario.model import Energy, NodeSpec
from xedgesim.scenario.reader import Reader, label
from xedgesim.scenario.yaml_tree import YNode
from xedgesim.units import MAX_QUANTITY, NS_PER_S, PJ_PER_J

# The defaults, from the Nordic nRF52840 Product Specification, "Current consumption"
# (docs.nordicsemi.com, ps_nrf52840): typical currents at a 3 V supply with the DC/DC
# regulator, the radio clocked by the HFXO crystal.
VOLTS = Fraction(3)
TX_AMPS = Fraction("6.40e-3")  # IRADIO_TX1: transmitting at 0 dBm, 1 Mbps Bluetooth LE mode
RX_AMPS = Fraction("6.26e-3")  # IRADIO_RX0: receiving at 1 Mbps Bluetooth LE mode
SLEEP_AMPS = Fraction("1.5e-6")  # ION_RAMOFF_RTC: System ON, no RAM retention, wake on RTC
# Bluetooth LE 1M sends one bit a microsecond; every packet adds 10 octets to its payload
# (Bluetooth Core Specification, Vol 6, Part B, 2.1: preamble 1, access address 4,
# PDU header 2, CRC 3).
SECONDS_PER_BYTE = Fraction(8, 10**6)
FRAMING_BYTES = 10


def _picojoules(amps: Fraction, seconds: Fraction) -> int:
    return int(amps * VOLTS * seconds * PJ_PER_J)


DEFAULT_TX_PER_BYTE_PJ = _picojoules(TX_AMPS, SECONDS_PER_BYTE)  # 153.6 nJ
DEFAULT_TX_PER_MESSAGE_PJ = FRAMING_BYTES * DEFAULT_TX_PER_BYTE_PJ  # 1.536 µJ
DEFAULT_RX_PER_BYTE_PJ = _picojoules(RX_AMPS, SECONDS_PER_BYTE)  # 150.24 nJ
DEFAULT_RX_PER_MESSAGE_PJ = FRAMING_BYTES * DEFAULT_RX_PER_BYTE_PJ  # 1.5024 µJ
DEFAULT_IDLE_PW = int(SLEEP_AMPS * VOLTS * PJ_PER_J)  # 4.5 µW

TX_KEYS = ("tx_per_message", "tx_per_byte")
RX_KEYS = ("rx_per_message", "rx_per_byte")  # only nodes that receive messages
ENERGY_KEYS = (*TX_KEYS, *RX_KEYS, "idle", "battery")
BATTERY_TYPES = ("sensor",)  # a node whose battery runs out goes down for good
EXAMPLE = "{tx_per_byte: 153.6nJ, idle: 4.5uW, battery: 0.675Wh}"
MAX_ENERGY_PJ = MAX_QUANTITY
"""A node's idle drain over the whole run, and its battery, stay below this (about 4.6 MJ):
the run's sums are int64 picojoules and must never wrap."""


def read_energy(reader: Reader, node: YNode, context: str, node_type: str | None,
                receives: bool) -> Energy | None:
    """The node's costs (defaults for the keys it leaves out) and its battery; ``None`` after
    reporting what is wrong. ``receives``: whether the node's type gets messages, so that
    reception costs mean something."""
    what = label("energy", context)
    ymap = reader.mapping(node, what, EXAMPLE)
    if ymap is None:
        return None
    reader.check_keys(ymap, ENERGY_KEYS, what)
    before = len(reader.problems)
    if not receives:
        for key in RX_KEYS:
            if key in ymap:
                reader.report(ymap.entries[key].key,
                              f"'{key}' of {what} has no use: a {node_type} receives no messages",
                              "PUBACKs are not simulated; count their cost in 'tx_per_message'")
    if "battery" in ymap and node_type is not None and node_type not in BATTERY_TYPES:
        reader.report(ymap.entries["battery"].key,
                      f"'battery' of {what}: a battery that runs out is modelled for "
                      f"{' and '.join(BATTERY_TYPES)} nodes only",
                      f"leave it out: the {node_type}'s energy is counted without one")

    def energy(key: str, default: int) -> int | None:
        value = ymap.get(key)
        return default if value is None else reader.energy(value, f"'{key}' of {what}")

    costs = (energy("tx_per_message", DEFAULT_TX_PER_MESSAGE_PJ),
             energy("tx_per_byte", DEFAULT_TX_PER_BYTE_PJ),
             energy("rx_per_message", DEFAULT_RX_PER_MESSAGE_PJ),
             energy("rx_per_byte", DEFAULT_RX_PER_BYTE_PJ))
    idle_node = ymap.get("idle")
    idle = DEFAULT_IDLE_PW if idle_node is None else reader.power(idle_node, f"'idle' of {what}")
    battery_node = ymap.get("battery")
    battery = None
    if battery_node is not None:
        battery = reader.energy(battery_node, f"'battery' of {what}")
        if battery == 0:
            reader.report(battery_node, f"'battery' of {what} must be greater than zero",
                          "leave it out for a node that never runs out")
    tx_message, tx_byte, rx_message, rx_byte = costs
    if (len(reader.problems) > before or idle is None or tx_message is None or tx_byte is None
            or rx_message is None or rx_byte is None):
        return None
    return Energy(tx_message, tx_byte, rx_message, rx_byte, idle, battery, ymap.location)


def check_idle_drain(reader: Reader, duration_ns: int, specs: Iterable[NodeSpec]) -> None:
    """A node's idle drain over the run must fit the run's int64 picojoules (``idle`` ×
    ``duration`` below ``MAX_ENERGY_PJ``): reported at the node's ``energy:``."""
    for spec in specs:
        energy = spec.energy
        if energy is None or energy.idle_pw * duration_ns // NS_PER_S <= MAX_ENERGY_PJ:
            continue
        reader.report(energy.location,
                      f"'idle' of 'energy' in node '{spec.id}' drains more than "
                      f"{MAX_ENERGY_PJ / PJ_PER_J / 1e6:.1f} MJ over the run's duration, "
                      "more than a node's energy can count",
                      "see 'Limits' in docs/scenario.md")
