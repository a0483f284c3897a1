"""A node's ``failures: {mtbf, mttr}``: read, defaulted to none, and refused where written."""

from __future__ import annotations

import pytest

from xedgesim.scenario.model import Failures

from .helpers import load, messages, scenario_text

S = 1_000_000_000


def _with(failures: str, node: str = "gw2") -> str:
    return scenario_text(f"- {{id: {node}, type: gateway, failures: {failures}}}")


def test_failures_are_read_for_any_node_type_and_default_to_none() -> None:
    scenario = load(scenario_text(
        "- {id: gw2, type: gateway, failures: {mtbf: 2h, mttr: 5min}}\n"
        "- {id: fleet, type: sensor, count: 4, interval: 1s, to: gw1,"
        " failures: {mtbf: 90s, mttr: 250ms}}"))
    assert scenario.node("gw2").failures == Failures(7200 * S, 300 * S)
    assert scenario.node("fleet").failures == Failures(90 * S, S // 4)
    assert scenario.node("gw1").failures is None


@pytest.mark.parametrize(("failures", "at", "message"), [
    ("{mtbf: 2h}", "{mtbf", "missing required key 'mttr' in 'failures' in node 'gw2'"),
    ("{mtbf: 0s, mttr: 1s}", "0s",
     "'mtbf' of 'failures' in node 'gw2' must be greater than zero, found '0s'"),
    ("{mtbf: 2h, mttr: 5}", "5}",
     "'mttr' of 'failures' in node 'gw2' needs a unit: found the bare number 5"),
    ("{mtbf: 2h, mttr: 5min, shape: 2}", "shape",
     "unknown key 'shape' in 'failures' in node 'gw2'"),
    ("2h", "2h", "'failures' in node 'gw2' must be a mapping ({mtbf: 2h, mttr: 5min}),"
                 " found '2h'"),
])
def test_a_wrong_failures_key_is_reported_where_it_is_written(failures: str, at: str,
                                                               message: str) -> None:
    text = _with(failures)
    line = text.splitlines()[6]
    column = line.index(at, line.index("failures:")) + 1
    found = messages(text)
    assert len(found) == 1, found
    assert found[0].startswith(f"s.yaml:7:{column}: {message}"), found


def test_a_wrong_failures_key_does_not_hide_other_problems_of_the_node() -> None:
    found = messages(scenario_text(
        "- {id: gw2, type: gateway, failures: {mtbf: 1s}, aggregate_every: 0s}"))
    assert len(found) == 2, found
