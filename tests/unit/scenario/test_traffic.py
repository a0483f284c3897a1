"""A sensor's ``payload`` distribution and its ``process: {on_off: …}`` and
``process: {trace: FILE}``: read, and refused where written (in the scenario or the trace)."""

from __future__ import annotations

from pathlib import Path

import pytest

from xedgesim.scenario import ScenarioError, load_scenario
from xedgesim.scenario.model import Distribution, OnOff

from .helpers import load, messages, scenario_text

S = 1_000_000_000


def _sensor(keys: str) -> str:
    return scenario_text(f"- {{id: s2, type: sensor, to: gw1, {keys}}}")


def test_payload_distributions_and_on_off_are_read() -> None:
    scenario = load(scenario_text(
        "- {id: a, type: sensor, interval: 1s, to: gw1, payload: {exponential: 1kB},"
        " process: {on_off: {on_time: 2s, off_time: 500ms}}}\n"
        "- {id: b, type: sensor, interval: 1s, to: gw1, payload: {uniform: [10B, 1KiB]}}\n"
        "- {id: c, type: sensor, interval: 1s, to: gw1, payload: {constant: 1.5kB}}"))
    a, b, c = (scenario.node(name).params for name in "abc")
    assert a.publish.payload_size == Distribution("exponential", (1000.0,))
    assert a.publish.payload_bytes == 40_000  # the largest size drawn: 40 means
    assert a.process == "on_off" and a.arrivals == OnOff(2 * S, S // 2)
    assert b.publish.payload_size == Distribution("uniform", (10.0, 1024.0))
    assert b.publish.payload_bytes == 1024
    assert c.publish.payload_size is None and c.publish.payload_bytes == 1500
    assert scenario.node("sensors").params.publish.payload_size is None
    assert scenario.node("sensors").params.arrivals is None


@pytest.mark.parametrize(("keys", "at", "message"), [
    ("interval: 1s, payload: {exponential: 0B}", "0B",
     "the mean of the exponential distribution of 'payload' in node 's2' must be greater "
     "than zero"),
    ("interval: 1s, payload: {normal: {mean: 20B, std: 5ms}}", "5ms",
     "'std' of the normal distribution of 'payload' in node 's2' needs a size unit"),
    ("interval: 1s, payload: {exponential: 10MB}", "{exponential",
     "'payload' in node 's2' can draw 400,000,000 bytes, more than the 268,435,455 bytes"),
    ("interval: 1s, payload: {constant: 0B}", "{constant",
     "'payload' in node 's2' must be greater than zero"),
    ("interval: 1s, payload: {pareto: 1kB}", "pareto",
     "unknown key 'pareto' in 'payload' in node 's2'"),
    ("interval: 1s, process: on_off", "on_off", "'process' in node 's2': on_off takes "
                                                 "parameters"),
    ("interval: 1s, process: bursty", "bursty",
     "'process' in node 's2' must be one of periodic, poisson, on_off or trace"),
    ("interval: 1s, process: {on_off: {on_time: 2s}}", "{on_time",
     "missing required key 'off_time' in 'on_off' of 'process' in node 's2'"),
    ("interval: 1s, process: {on_off: {on_time: 2s, off_time: 0s}}", "0s",
     "'off_time' of 'on_off' of 'process' in node 's2' must be greater than zero"),
    ("interval: 1s, process: {on_off: {on: 2s, off_time: 1s}}", "on:",
     "unknown key 'on' in 'on_off' of 'process' in node 's2' (write on_time: YAML reads"),
    ("process: {on_off: {on_time: 2s, off_time: 1s}, trace: a.csv}", "trace",
     "'process' in node 's2' gives several processes"),
    ("interval: 1s, process: {}", "{}", "'process' in node 's2' must name a process: on_off "
                                         "or trace (periodic and poisson are written alone)"),
    ("interval: 1s, process: {markov: {}}", "markov",
     "unknown key 'markov' in 'process' in node 's2'"),
    ("process: {on_off: {on_time: 2s, off_time: 1s}}", "{id",
     "missing required key 'interval' in node 's2'"),
])
def test_a_wrong_payload_or_process_is_reported_where_it_is_written(keys: str, at: str,
                                                                     message: str) -> None:
    text = _sensor(keys)
    line = text.splitlines()[6]
    column = line.index(at) + 1
    found = messages(text)
    assert len(found) == 1, found
    assert found[0].startswith(f"s.yaml:7:{column}: {message}"), found


def test_a_gateway_payload_is_one_size() -> None:
    text = scenario_text("- {id: gw2, type: gateway, to: cloud, payload: {exponential: 1kB}}")
    found = messages(text)
    assert len(found) == 1 and "'payload' in node 'gw2' must be one size such as '128B', " \
        "found a mapping (sizes drawn from a distribution are for sensors" in found[0], found


def _trace_scenario(tmp_path: Path, trace: str | None, keys: str = "",
                    name: str = "arrivals.csv") -> Path:
    if trace is not None:
        (tmp_path / name).write_text(trace)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "duration: 10s\nnodes:\n"
        f"  - {{id: s, type: sensor, count: 3, to: c, process: {{trace: {name}}}{keys}}}\n"
        "  - {id: c, type: cloud}\n")
    return scenario


def _trace_messages(scenario: Path) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(scenario)
    return [str(problem) for problem in info.value.problems]


def test_a_trace_is_read_relative_to_the_scenario(tmp_path: Path) -> None:
    scenario = _trace_scenario(tmp_path, "# from a capture\ntime_s\n0\n0.5\n0.5\n1e-3\n"
                               .replace("1e-3", "12.000000001"))
    trace = load_scenario(scenario).node("s").params.arrivals
    assert list(trace.times_ns) == [0, S // 2, S // 2, 12 * S + 1]
    assert trace.instances is None and trace.path == str(tmp_path / "arrivals.csv")


@pytest.mark.parametrize(("trace", "where", "message"), [
    ("time_s\n0.5\n0.25\n", "3:1", "the trace goes back in time: 0.25 s after 0.5 s at line 2"),
    ("time_s,instance\n0.5,3\n", "2:5",
     "'instance' of the trace must be a whole number from 0 to 2 (the sensor's count is 3), "
     "found '3'"),
    ("time_s\n-1\n", "2:1", "'time_s' of the trace must be a number of seconds from 0"),
    ("time_s\n 1s\n", "2:2", "'time_s' of the trace must be a number of seconds from 0 to "
                             "below 2^61 ns, found '1s'"),
    ("time_s, when\n", "1:9", "the trace's header has an unknown column 'when'"),
    ("instance\n0\n", "1:1", "the trace's header has no column 'time_s'"),
    ("time_s\n1,2\n", "2:1", "a row of the trace has 2 fields, the header 1 (time_s)"),
    ("# nothing\n", "", "the trace is empty"),
])
def test_a_bad_trace_row_is_reported_at_its_line(tmp_path: Path, trace: str, where: str,
                                                 message: str) -> None:
    found = _trace_messages(_trace_scenario(tmp_path, trace))
    path = tmp_path / "arrivals.csv"
    prefix = f"{path}:{where}: " if where else f"{path}: "
    assert len(found) == 1 and found[0].startswith(prefix + message), found


def test_a_trace_reports_ten_bad_rows_then_stops(tmp_path: Path) -> None:
    found = _trace_messages(_trace_scenario(tmp_path, "time_s\n" + "x\n" * 1000))
    assert len(found) == 11 and "the rest of the trace is not checked" in found[-1], found


@pytest.mark.parametrize(("keys", "key"), [(", interval: 1s", "interval"),
                                           (", phase: 0s", "phase")])
def test_a_trace_sensor_takes_no_interval_or_phase(tmp_path: Path, keys: str, key: str) -> None:
    found = _trace_messages(_trace_scenario(tmp_path, "time_s\n0\n", keys))
    assert len(found) == 1, found
    assert f"'{key}' in node 's' has no effect with a trace" in found[0], found
    assert found[0].startswith(f"{tmp_path / 's.yaml'}:3:"), found


def test_a_missing_trace_is_reported_at_its_name(tmp_path: Path) -> None:
    found = _trace_messages(_trace_scenario(tmp_path, None, name="gone.csv"))
    scenario = tmp_path / "s.yaml"
    column = scenario.read_text().splitlines()[2].index("gone.csv") + 1
    assert len(found) == 1 and found[0].startswith(
        f"{scenario}:3:{column}: cannot read the trace 'gone.csv' of 'trace' of 'process' in "
        "node 's': No such file or directory"), found


def test_on_off_periods_too_long_for_the_run_are_refused() -> None:
    """40 × (on_time + off_time + interval) is what the sampler can add to a time."""
    found = messages(_sensor("interval: 1s, process: {on_off: {on_time: 20000h, "
                             "off_time: 20000h}}"))
    assert len(found) == 1 and "'process' of node 's2' is" in found[0] and \
        "passes the simulator's limit of 2^62 ns" in found[0], found
