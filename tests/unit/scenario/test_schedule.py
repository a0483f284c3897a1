"""Links that change: ``schedule:`` and ``trace:`` read, inherited from the default link, merged
by an overlay, bounded, and refused where written (in the scenario or at the trace's line)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xedgesim.scenario import ScenarioError, load_scenario
from xedgesim.scenario import limits as scenario_limits
from xedgesim.scenario.horizon import hop_bound_ns

from .helpers import load, messages, scenario_text

MS = 1_000_000
S = 1_000_000_000


def test_a_schedule_is_read_in_columns_and_links_inherit_it() -> None:
    scenario = load(scenario_text(network="""
        default:
          latency: 5ms
          schedule:
            - {at: 10s, latency: 50ms, loss: 2%}
            - {at: 20s, bandwidth: 1Mbit}
            - {at: 30s, bandwidth: unlimited, loss: 0}
        links:
          - {between: [gw1, cloud], latency: 1ms}
          - {between: [sensors, gw1], schedule: []}
        """))
    default = scenario.network.default
    schedule = default.schedule
    assert schedule is not None
    assert schedule.at_ns.tolist() == [10 * S, 20 * S, 30 * S]
    assert schedule.latency_ns.tolist() == [50 * MS, -1, -1]
    assert np.array_equal(schedule.bandwidth_bps, [np.nan, 1e6, np.inf], equal_nan=True)
    assert np.array_equal(schedule.loss, [0.02, np.nan, 0.0], equal_nan=True)
    by_pair = {(link.a, link.b): link.spec for link in scenario.network.links}
    cloud = by_pair["gw1", "cloud"]
    assert cloud.schedule is schedule and cloud.latency_ns == 1 * MS
    assert (cloud.lowest_latency_ns(), cloud.highest_latency_ns()) == (1 * MS, 50 * MS)
    assert cloud.slowest_bandwidth_bps() == 1e6 and cloud.ever_lossy()
    assert by_pair["sensors", "gw1"].schedule is None  # an empty list: no schedule


def _write(tmp_path: Path, trace: str, network: str = "default: {trace: traces/t.csv}") -> Path:
    (tmp_path / "traces").mkdir(exist_ok=True)
    (tmp_path / "traces" / "t.csv").write_text(trace)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(scenario_text(network=network))
    return scenario


def test_a_trace_is_read_relative_to_its_scenario(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, "# measured\nloss, time ,latency\n\n0.01,0s,40ms\n,1.5s,45ms\n"
                            "1%,3s,\n")
    monkeypatch.chdir("/")
    schedule = load_scenario(path).network.default.schedule
    assert schedule is not None
    assert schedule.at_ns.tolist() == [0, 1_500_000_000, 3 * S]
    assert schedule.latency_ns.tolist() == [40 * MS, 45 * MS, -1]
    assert np.array_equal(schedule.loss, [0.01, np.nan, 0.01], equal_nan=True)
    assert np.isnan(schedule.bandwidth_bps).all()
    assert schedule.location.file == str(tmp_path / "traces" / "t.csv")


@pytest.mark.parametrize(("trace", "message"), [
    ("time,latency\n0s,5ms\n2s,5\n", "t.csv:3:4: 'latency' in the trace of the default link "
                                     "needs a unit: found the bare number 5"),
    ("time,latency\n2s,5ms\n1s,6ms\n", "t.csv:3:1: 'time' in the trace of the default link "
                                       "must be later than the one before (2s), found '1s'"),
    ("time,latency\n1s,5ms\n1s,6ms\n", "t.csv:3:1: 'time' in the trace of the default link "
                                       "must be later than the one before (1s)"),
    ("time,latency\n1s,5ms,7\n", "t.csv:2:1: a row of the trace of the default link has "
                                 "3 fields, the header 2 (time,latency)"),
    ("time,latncy\n", "t.csv:1:6: unknown column 'latncy' in the trace of the default link "
                      "(columns: time, latency, bandwidth, loss) (did you mean 'latency'?)"),
    ("time\n1s\n", "t.csv:1:1: the header of the trace of the default link must name 'time' "
                   "and at least one of latency, bandwidth, loss"),
    ("time,loss\n1s,1.5\n", "t.csv:2:4: 'loss' in the trace of the default link must be "
                            "between 0 and 1, found 1.5"),
    ("time,bandwidth\n,1Mbit\n", "t.csv:2:1: 'time' in the trace of the default link is "
                                 "missing"),
    ("# nothing\n", "t.csv: the trace of the default link is empty"),
])
def test_a_wrong_trace_is_reported_at_its_line_and_column(tmp_path: Path, trace: str,
                                                          message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, trace))
    found = [str(problem) for problem in info.value.problems]
    assert any(text.endswith(message) or message in text for text in found), found
    assert all(text.startswith(str(tmp_path / "traces" / "t.csv")) for text in found), found


def test_a_trace_of_many_bad_rows_stops_after_a_few(tmp_path: Path) -> None:
    trace = "time,latency\n" + "".join(f"{i}s,{i}\n" for i in range(1, 1000))
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, trace))
    assert len(info.value.problems) == 11
    assert info.value.problems[-1].message == (
        "the rest of the trace of the default link is not checked after 10 problems")


def test_a_trace_longer_than_the_limit_is_refused(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scenario_limits, "MAX_SCHEDULE_ROWS", 3)
    trace = "time,latency\n" + "".join(f"{i}s,{i}ms\n" for i in range(1, 6))
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, trace))
    (problem,) = info.value.problems
    assert str(problem).endswith("t.csv:5:1: the trace of the default link has more than 3 "
                                 "rows (see 'Limits' in docs/scenario.md)")


def test_a_missing_trace_is_reported_at_the_key(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(scenario_text(network="default: {trace: traces/none.csv}"))
    with pytest.raises(ScenarioError) as info:
        load_scenario(scenario)
    (problem,) = info.value.problems
    assert problem.location.file == str(scenario)
    assert problem.message.startswith(
        "cannot read the trace 'traces/none.csv' of 'trace' in the default link: No such file")


@pytest.mark.parametrize(("network", "at", "message"), [
    ("default: {schedule: [{at: 2s, latency: 1ms}, {at: 1s, latency: 2ms}]}", "1s",
     "'at' in entry #2 of 'schedule' in the default link must be later than the one before "
     "(2s), found '1s'"),
    ("default: {schedule: [{latency: 1ms}]}", "{latency",
     "missing required key 'at' in entry #1 of 'schedule' in the default link"),
    ("default: {schedule: [{at: 1s}]}", "{at",
     "entry #1 of 'schedule' in the default link changes nothing"),
    ("default: {schedule: [{at: 1s, jitter: {exponential: 1ms}}]}", "jitter",
     "'jitter' does not change over time"),
    ("default: {schedule: [{at: 1s, latncy: 1ms}]}", "latncy",
     "unknown key 'latncy' in entry #1 of 'schedule' in the default link"),
    ("default: {schedule: [{at: 1s, bandwidth: 0bit}]}", "0bit",
     "'bandwidth' in entry #1 of 'schedule' in the default link must be greater than zero"),
    ("default: {schedule: {at: 1s}}", "{at",
     "'schedule' in the default link must be a list"),
    ("default: {schedule: [{at: 1s, loss: 0.1}], trace: t.csv}", "trace",
     "the default link gives both 'schedule' and 'trace'"),
    ("default: {loss: {gilbert: {p: 0.1, r: 0.5}}, schedule: [{at: 1s, loss: 0.1}]}",
     "{gilbert",
     "the default link has bursty loss ({gilbert: …}), which its schedule or trace "
     "(s.yaml:"),
])
def test_a_wrong_schedule_is_reported_where_it_is_written(network: str, at: str,
                                                          message: str) -> None:
    text = scenario_text(network=network)
    line_number = next(n for n, line in enumerate(text.splitlines(), 1) if "default:" in line)
    line = text.splitlines()[line_number - 1]
    found = messages(text)
    column = line.index(at, line.index("default:")) + 1
    assert any(f.startswith(f"s.yaml:{line_number}:{column}: {message}") for f in found), found


def test_the_horizon_check_takes_the_worst_value_of_a_schedule() -> None:
    text = scenario_text(network="""
        default: {latency: 1ms, schedule: [{at: 1s, latency: 4611686018427387904ns}]}
        """)
    (found,) = [m for m in messages(text) if "on the default link" in m]
    assert "at its slowest bandwidth, plus highest latency" in found
    slow = load(scenario_text(network="""
        default: {latency: 1ms, schedule: [{at: 1s, latency: 9ms, bandwidth: 8kbit},
                                           {at: 2s, latency: 2ms, bandwidth: 1Mbit}]}
        """)).network.default
    assert hop_bound_ns(slow, 1000) == 9 * MS + 1 * S  # 1000 B at 8 kbit/s


def test_an_overlay_trace_replaces_the_scenarios_schedule(tmp_path: Path) -> None:
    (tmp_path / "o.csv").write_text("time,latency\n1s,70ms\n")
    (tmp_path / "o.yaml").write_text("network: {default: {trace: o.csv}}\n")
    scenario = tmp_path / "sub" / "s.yaml"
    scenario.parent.mkdir()
    scenario.write_text(scenario_text(
        network="default: {latency: 1ms, schedule: [{at: 2s, latency: 5ms}]}"))
    default = load_scenario(scenario, tmp_path / "o.yaml").network.default
    assert default.schedule is not None
    assert default.schedule.latency_ns.tolist() == [70 * MS]  # relative to the overlay's file
    assert default.latency_ns == 1 * MS
