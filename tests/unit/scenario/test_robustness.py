"""Whatever a scenario file holds, loading it gives a Scenario or a ScenarioError, never a crash."""

from __future__ import annotations

import re

import pytest

from xedgesim.scenario import Scenario, ScenarioError, load_scenario_text

from .test_legacy import M0_BASELINE
from .test_loader import FULL

REPLACEMENTS = ["", "null", "[]", "{}", "-1", "0", "1.5", "true", "x", "'+#'", "1e400", "[[a]]"]
# Every scalar value in flow or block position: 'key: value' with a plain value.
_VALUE = re.compile(r"(?<=: )[^\s\[\]{},#]+")


def _variants(text: str) -> list[str]:
    variants = []
    for match in _VALUE.finditer(text):
        for replacement in REPLACEMENTS:
            variants.append(text[: match.start()] + replacement + text[match.end() :])
    return variants


@pytest.mark.parametrize("base", [FULL, M0_BASELINE], ids=["current", "original"])
def test_every_mutated_value_loads_or_reports(base: str) -> None:
    for text in _variants(base):
        try:
            result = load_scenario_text(text, "fuzz.yaml")
        except ScenarioError as error:
            assert error.problems, text
            assert all(str(problem) for problem in error.problems)
        else:
            assert isinstance(result, Scenario)


@pytest.mark.parametrize(
    "text",
    [
        "duration: 1s\nnodes: [[]]\n",
        "duration: 1s\nnodes: [{id: [x], type: [y]}]\n",
        "duration: 1s\nnodes: [{? [a]: b}]\n",
        "simulation: []\nnodes: 5\nnetwork: [1]\n",
        "simulation: {}\nnodes: [{}, 3, {id: a, type: sensor_model, config: [1]}]\n",
        "simulation: {duration_s: 1}\n"
        "network: {model: latency, links: [1, {src: [a]}]}\nnodes: []\n",
        "duration: 1s\nnetwork: {links: [{between: [{}, []]}]}\nnodes: [{id: a, type: cloud}]\n",
        "duration: 1s\nfaults: [{at: 1s, action: heal, groups: 3}]\n"
        "nodes: [{id: a, type: cloud}]\n",
        "\x00",
        "a: *unknown\n",
        "duration: &d 1s\nnodes: [{id: a, type: cloud}]\n"
        "faults: [{at: *d, action: crash, node: a}]\n",
    ],
)
def test_odd_documents(text: str) -> None:
    try:
        load_scenario_text(text, "odd.yaml")
    except ScenarioError as error:
        assert error.problems
