"""A node's ``energy:`` key: read with its sourced defaults, and refused where written."""

from __future__ import annotations

import pytest

from xedgesim.scenario.energy import (
    DEFAULT_IDLE_PW,
    DEFAULT_RX_PER_BYTE_PJ,
    DEFAULT_RX_PER_MESSAGE_PJ,
    DEFAULT_TX_PER_BYTE_PJ,
    DEFAULT_TX_PER_MESSAGE_PJ,
)

from .helpers import load, messages, scenario_text


def _with(energy: str, node: str = "fleet", kind: str = "sensor") -> str:
    keys = "count: 4, interval: 1s, to: gw1" if kind == "sensor" else "to: cloud"
    return scenario_text(f"- {{id: {node}, type: {kind}, {keys}, energy: {energy}}}")


def test_the_defaults_are_the_nrf52840_figures_of_docs_simulation_md() -> None:
    """6.40 mA TX and 6.26 mA RX at 3 V for 8 µs a byte, ten octets of framing a packet,
    1.5 µA asleep (docs/simulation.md, "Energy and battery")."""
    assert DEFAULT_TX_PER_BYTE_PJ == 153_600  # 153.6 nJ
    assert DEFAULT_TX_PER_MESSAGE_PJ == 1_536_000  # 1.536 µJ
    assert DEFAULT_RX_PER_BYTE_PJ == 150_240  # 150.24 nJ
    assert DEFAULT_RX_PER_MESSAGE_PJ == 1_502_400  # 1.5024 µJ
    assert DEFAULT_IDLE_PW == 4_500_000  # 4.5 µW
    energy = load(_with("{}")).node("fleet").energy
    assert energy is not None and energy.battery_pj is None
    assert (energy.tx_per_message_pj, energy.tx_per_byte_pj, energy.idle_pw) == (
        DEFAULT_TX_PER_MESSAGE_PJ, DEFAULT_TX_PER_BYTE_PJ, DEFAULT_IDLE_PW)


def test_energy_is_read_in_picojoules_and_a_node_without_it_has_none() -> None:
    scenario = load(scenario_text(
        "- {id: fleet, type: sensor, count: 4, interval: 1s, to: gw1,"
        " energy: {tx_per_message: 0.2mJ, tx_per_byte: 1.5uJ, idle: 3uW, battery: 2.4kJ}}\n"
        "- {id: gw2, type: gateway, to: cloud, energy: {rx_per_message: 0, rx_per_byte: 1nJ,"
        " idle: 2W}}"))
    sensor = scenario.node("fleet").energy
    assert sensor is not None
    assert (sensor.tx_per_message_pj, sensor.tx_per_byte_pj, sensor.idle_pw,
            sensor.battery_pj) == (200_000_000, 1_500_000, 3_000_000, 2_400 * 10**12)
    gateway = scenario.node("gw2").energy
    assert gateway is not None
    assert (gateway.rx_per_message_pj, gateway.rx_per_byte_pj, gateway.idle_pw,
            gateway.battery_pj) == (0, 1_000, 2 * 10**12, None)
    assert scenario.node("gw1").energy is None


@pytest.mark.parametrize(("energy", "at", "message"), [
    ("{battery: 225mAh}", "225mAh",
     "'battery' of 'energy' in node 'fleet' needs an energy unit, and 'mAh' is one of charge: "
     "found '225mAh' (an energy is charge × voltage: 225mAh at 3 V is 0.675Wh)"),
    ("{idle: 3uJ}", "3uJ",
     "'idle' of 'energy' in node 'fleet' needs a power unit, not the energy unit 'uJ'"),
    ("{tx_per_byte: 5}", "5}", "'tx_per_byte' of 'energy' in node 'fleet' needs a unit: found "
                               "the bare number 5"),
    ("{battery: 0J}", "0J", "'battery' of 'energy' in node 'fleet' must be greater than zero"),
    ("{tx_per_message: -1mJ}", "-1mJ",
     "'tx_per_message' of 'energy' in node 'fleet' cannot be negative"),
    ("{rx_per_message: 1uJ}", "rx_per",
     "'rx_per_message' of 'energy' in node 'fleet' has no use: a sensor receives no messages"),
    ("{voltage: 3V}", "voltage", "unknown key 'voltage' in 'energy' in node 'fleet'"),
    ("2kJ", "2kJ", "'energy' in node 'fleet' must be a mapping"),
])
def test_a_wrong_energy_key_is_reported_where_it_is_written(energy: str, at: str,
                                                             message: str) -> None:
    text = _with(energy)
    line = text.splitlines()[6]
    column = line.index(at, line.index("energy:")) + 1
    found = messages(text)
    assert len(found) == 1, found
    assert found[0].startswith(f"s.yaml:7:{column}: {message}"), found


def test_a_gateway_counts_energy_but_has_no_battery() -> None:
    text = _with("{battery: 1kJ}", node="gw2", kind="gateway")
    found = messages(text)
    assert len(found) == 1, found
    assert "'battery' of 'energy' in node 'gw2': a battery that runs out is modelled for " \
           "sensor nodes only" in found[0], found


def test_energy_is_a_key_of_senders_only() -> None:
    found = messages(scenario_text("- {id: c2, type: cloud, energy: {}}"))
    assert len(found) == 1, found
    assert "'energy' is not a key of a cloud node; it belongs to sensor and gateway" in found[0]


def test_an_idle_drain_too_large_to_count_is_refused_at_the_node() -> None:
    """idle × duration must stay below 2^62 pJ (about 4.6 MJ): 2 kW for a day is 173 MJ."""
    text = _with("{idle: 2kW}", node="gw2", kind="gateway").replace("duration: 60s",
                                                                     "duration: 24h")
    found = messages(text)
    assert len(found) == 1, found
    assert found[0].startswith("s.yaml:7:"), found
    assert "'idle' of 'energy' in node 'gw2' drains more than 4.6 MJ" in found[0], found


def test_a_wrong_energy_key_does_not_hide_other_problems_of_the_node() -> None:
    found = messages(scenario_text(
        "- {id: f2, type: sensor, interval: 0s, to: gw1, energy: {idle: 1kg}}"))
    assert len(found) == 2, found
