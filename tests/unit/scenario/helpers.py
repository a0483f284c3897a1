"""Small helpers shared by the scenario tests: load YAML text, get its problems."""

from __future__ import annotations

import textwrap

import pytest

from xedgesim.scenario import Problem, Scenario, ScenarioError, load_scenario_text

FILE = "s.yaml"

BASE_NODES = """\
  - {id: sensors, type: sensor, count: 3, interval: 1s, to: gw1}
  - {id: gw1, type: gateway, to: cloud}
  - {id: broker, type: broker}
  - {id: cloud, type: cloud}
"""
FIRST_EXTRA_LINE = 7  # the line of the first node given in ``extra`` to ``scenario_text``


def _block(text: str) -> str:
    text = textwrap.dedent(text).strip("\n")
    return textwrap.indent(text, "  ") + "\n" if text else ""


def scenario_text(
    extra: str = "",
    *,
    nodes: str = BASE_NODES,
    network: str = "",
    faults: str = "",
    head: str = "duration: 60s\n",
) -> str:
    """A valid scenario (four nodes) with ``extra`` nodes, a network and faults added.

    Each of ``extra``, ``network`` and ``faults`` is written as if its section's content started
    at column 1 (list items as ``- {...}``); it is indented under its section here.
    """
    text = head + "nodes:\n" + nodes + _block(extra)
    if network:
        text += "network:\n" + _block(network)
    if faults:
        text += "faults:\n" + _block(faults)
    return text


def load(text: str) -> Scenario:
    return load_scenario_text(textwrap.dedent(text), FILE)


def problems(text: str) -> list[Problem]:
    with pytest.raises(ScenarioError) as info:
        load(text)
    return list(info.value.problems)


def messages(text: str) -> list[str]:
    return [str(problem) for problem in problems(text)]


def one(text: str) -> Problem:
    """The single problem of ``text``; fails with the whole report if there are more."""
    found = problems(text)
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]
