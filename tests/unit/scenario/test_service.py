"""A node's ``service:`` and a sensor's ``compute:``: read, defaulted, and refused where
written."""

from __future__ import annotations

import pytest

from xedgesim.scenario.model import Compute, Distribution, Service

from .helpers import load, messages, scenario_text

MS = 1_000_000


def _located(text: str, line_number: int, key: str, at: str) -> tuple[str, str]:
    """The first problem of ``text`` and the ``file:line:column`` of ``at`` after ``key``."""
    line = text.splitlines()[line_number - 1]
    column = line.index(at, line.index(key)) + 1
    found = messages(text)
    assert len(found) == 1, found
    return found[0], f"s.yaml:{line_number}:{column}: "


def test_service_is_read_for_gateway_broker_and_cloud_and_defaults_to_none() -> None:
    scenario = load(scenario_text(
        "- {id: gw2, type: gateway, service: {time: {exponential: 2ms}, servers: 4}}\n"
        "- {id: b2, type: broker, service: {time: {constant: 500us}}}\n"
        "- {id: c2, type: cloud, service: {time: {uniform: [1ms, 3ms]}}}"))
    assert scenario.node("gw2").service == Service(Distribution("exponential", (2e6,)), 4)
    assert scenario.node("b2").service == Service(Distribution("constant", (5e5,)), 1)
    assert scenario.node("c2").service == Service(Distribution("uniform", (1e6, 3e6)), 1)
    assert scenario.node("gw1").service is None


def test_compute_is_read_with_its_energy_and_defaults_to_none() -> None:
    scenario = load(scenario_text(
        "- {id: cam, type: sensor, interval: 1s, to: gw1,"
        " compute: {at: device, time: {constant: 120ms}, energy: 2.5mJ}}\n"
        "- {id: mic, type: sensor, interval: 1s, to: broker,"
        " compute: {at: gateway, time: {exponential: 9ms}}}"))
    assert scenario.node("cam").params.compute == Compute(
        "device", Distribution("constant", (120e6,)), 2_500_000_000)
    assert scenario.node("mic").params.compute == Compute(
        "gateway", Distribution("exponential", (9e6,)), 0)
    assert scenario.node("sensors").params.compute is None


@pytest.mark.parametrize(("service", "at", "message"), [
    ("{servers: 2}", "{servers", "missing required key 'time' in 'service' in node 'gw2'"),
    ("{time: {exponential: 2ms}, servers: 0}", "0}",
     "'servers' of 'service' in node 'gw2' must be at least 1, found 0"),
    ("{time: {exponential: 2ms}, servers: 5000}", "5000",
     "'servers' of 'service' in node 'gw2' must be at most 1024, found 5000"),
    ("{time: {exponential: 2}}", "2}",
     "the mean of the exponential distribution of 'time' of 'service' in node 'gw2' needs a "
     "unit"),
    ("{time: 2ms}", "2ms", "'time' of 'service' in node 'gw2' must be a distribution such as"),
    ("{time: {constant: 1ms}, queue: 8}", "queue",
     "unknown key 'queue' in 'service' in node 'gw2'"),
    ("2ms", "2ms", "'service' in node 'gw2' must be a mapping"),
])
def test_a_wrong_service_is_reported_where_it_is_written(service: str, at: str,
                                                          message: str) -> None:
    text = scenario_text(f"- {{id: gw2, type: gateway, service: {service}}}")
    found, where = _located(text, 7, "service:", at)
    assert found.startswith(where + message), found


def test_a_sensor_has_no_service() -> None:
    found = messages(scenario_text(
        "- {id: s2, type: sensor, interval: 1s, to: gw1, service: {time: {constant: 1ms}}}"))
    assert len(found) == 1 and "'service' is not a key of a sensor node" in found[0], found


@pytest.mark.parametrize(("compute", "at", "message"), [
    ("{time: {constant: 1ms}}", "{time", "missing required key 'at' in 'compute' in node 's2'"),
    ("{at: edge, time: {constant: 1ms}}", "edge",
     "'at' of 'compute' in node 's2' must be one of"),
    ("{at: device}", "{at", "missing required key 'time' in 'compute' in node 's2'"),
    ("{at: device, time: {constant: 1ms}, energy: 3}", "3}",
     "'energy' of 'compute' in node 's2' needs a unit: found the bare number 3"),
    ("{at: device, time: {constant: 1ms}, energy: 3ms}", "3ms",
     "'energy' of 'compute' in node 's2' needs an energy unit, not the duration unit 'ms'"),
    ("{at: device, time: {constant: 1ms}, energy: 2000000J}", "2000000J",
     "'energy' of 'compute' in node 's2' must be at most 1,000,000 J"),
    ("{at: cloud, time: {constant: 1ms}, power: 1}", "power",
     "unknown key 'power' in 'compute' in node 's2'"),
])
def test_a_wrong_compute_is_reported_where_it_is_written(compute: str, at: str,
                                                          message: str) -> None:
    text = scenario_text(f"- {{id: s2, type: sensor, interval: 1s, to: gw1, compute: {compute}}}")
    found, where = _located(text, 7, "compute:", at)
    assert found.startswith(where + message), found


def test_compute_at_the_gateway_needs_a_sensor_that_publishes_to_one() -> None:
    text = scenario_text(
        "- {id: s2, type: sensor, interval: 1s, to: cloud,"
        " compute: {at: gateway, time: {constant: 1ms}}}")
    found, where = _located(text, 7, "", "compute")
    assert found.startswith(where + "'compute' in node 's2' is at the gateway, but its 'to' is "
                                    "a cloud ('cloud')"), found
    assert "a gateway or broker" in found


def test_a_processing_time_beyond_the_horizon_is_refused() -> None:
    found = messages(scenario_text(
        "- {id: gw2, type: gateway, service: {time: {exponential: 100000h}}}"))
    assert len(found) == 1, found
    assert "'time' of 'service' of node 'gw2' is" in found[0]
    assert "2^62 ns" in found[0]


def test_time_and_energy_may_be_given_per_place_and_at_picks_one() -> None:
    text = scenario_text(
        "- {id: s2, type: sensor, interval: 1s, to: gw1, compute: {at: AT,"
        " time: {device: {constant: 70ms}, gateway: {constant: 15ms}, cloud: {constant: 1ms}},"
        " energy: {device: 5mJ, gateway: 2mJ}}}")
    expected = {"device": (70 * MS, 5 * 10**9), "gateway": (15 * MS, 2 * 10**9),
                "cloud": (1 * MS, 0)}
    for at, (time, energy) in expected.items():
        compute = load(text.replace("AT", at)).node("s2").params.compute
        assert compute == Compute(at, Distribution("constant", (float(time),)), energy)


def test_a_time_per_place_must_give_the_place_at_names() -> None:
    text = scenario_text(
        "- {id: s2, type: sensor, interval: 1s, to: gw1, compute: {at: cloud,"
        " time: {device: {constant: 70ms}, gateway: {exponential: 15ms}}}}")
    found, where = _located(text, 7, "time:", "{device")
    assert found.startswith(where + "'time' of 'compute' in node 's2' gives no value for "
                                    "'cloud', where 'at' places it"), found


def test_a_wrong_value_for_one_place_is_reported_at_that_value() -> None:
    text = scenario_text(
        "- {id: s2, type: sensor, interval: 1s, to: gw1, compute: {at: device,"
        " time: {constant: 1ms}, energy: {device: 5mJ, gateway: 2}}}")
    found, where = _located(text, 7, "gateway:", "2}")
    assert found.startswith(where + "the gateway value of 'energy' of 'compute' in node 's2' "
                                    "needs a unit"), found
