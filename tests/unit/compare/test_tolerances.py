from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from xedgesim.compare.runs import CompareInputError
from xedgesim.compare.tolerances import DEFAULT_RULE, load_tolerances, parse_tolerances

GOOD = """\
metrics:
  "flows.gw->cloud.latency_ms.p99": {absolute: 5}
  "flows.*.latency_ms.*": {relative: 0.25, absolute: 3}
  "*.loss_ratio.*": {confidence: 0.999}
  "cloud.*": {ignore: true}
"""


def test_rules_keep_file_order_and_the_first_match_decides() -> None:
    tolerances = parse_tolerances(GOOD, "t.yaml")
    specific = tolerances.rule_for("flows.gw->cloud.latency_ms.p99")
    assert (specific.absolute, specific.relative, specific.where) == (5.0, None, "t.yaml:2:3")
    general = tolerances.rule_for("flows.sensors->gw.latency_ms.p50")
    assert (general.absolute, general.relative) == (3.0, 0.25)
    assert general.allowed(100.0, 80.0) == 25.0 and general.allowed(4.0, 1.0) == 3.0
    assert tolerances.rule_for("flows.a->b.loss_ratio.random").confidence == 0.999
    assert not tolerances.rule_for("flows.a->b.loss_ratio.random").replaces_default
    assert tolerances.rule_for("cloud.cloud.aggregates").ignore
    assert tolerances.rule_for("flows.a->b.delivered") is DEFAULT_RULE


def test_patterns_that_match_nothing_are_listed() -> None:
    tolerances = parse_tolerances(GOOD, "t.yaml")
    tolerances.rule_for("cloud.cloud.aggregates")
    assert [rule.where for rule in tolerances.unused()] == ["t.yaml:2:3", "t.yaml:3:3",
                                                           "t.yaml:4:3"]


def test_every_problem_is_reported_with_its_place() -> None:
    text = textwrap.dedent("""\
        metrics:
          "a": {relatve: 1, confidence: 2}
          "b": {absolute: -1}
          "c": 3
          "d": {}
          "e": {relative: 10%}
          "f": {ignore: "yes"}
          7: {absolute: 1}
        extra: 1
        """)
    with pytest.raises(CompareInputError) as caught:
        parse_tolerances(text, "t.yaml")
    lines = str(caught.value).splitlines()
    assert lines == [
        "t.yaml:2:9: unknown key 'relatve' in the rule for 'a' (did you mean 'relative'?)",
        "t.yaml:2:33: 'confidence' in the rule for 'a' must be between 0.5 and 0.999999, "
        "found 2 (0.99 is 99 %)",
        "t.yaml:3:19: 'absolute' in the rule for 'b' must be at least 0, found -1",
        "t.yaml:4:8: the rule for 'c' must be a mapping ({relative: 0.2, absolute: 5}), "
        "found 3",
        "t.yaml:5:8: the rule for 'd' sets nothing (give absolute, relative, confidence or "
        "ignore)",
        "t.yaml:6:19: 'relative' in the rule for 'e' must be a fraction, found '10%' "
        "(write 0.1 for 10 %)",
        "t.yaml:7:17: 'ignore' in the rule for 'f' must be true or false, found 'yes'",
        "t.yaml:8:3: a pattern must be a metric name or glob of at most 200 printable "
        "characters, found '7' (quote it: \"flows.*.latency_ms.p99\")",
        "t.yaml:9:1: unknown key 'extra' in a tolerance file",
    ]


@pytest.mark.parametrize(("text", "message"), [
    ("", "t.yaml: the tolerance file is empty"),
    ("metrics: [a, b]\n", "t.yaml:1:10: 'metrics' must be a mapping"),
    ("other: {}\n", "t.yaml:1:1: missing required key 'metrics' in a tolerance file"),
    ("- a\n", "t.yaml:1:1: a tolerance file must be a mapping"),
    ("metrics: {a: {absolute: 1}\n", "t.yaml:2:1: invalid YAML"),
    ('metrics:\n  "a": {absolute: 1}\n  "a": {absolute: 2}\n', "t.yaml:3:3: duplicate key"),
])
def test_a_malformed_file_is_located(text: str, message: str) -> None:
    with pytest.raises(CompareInputError) as caught:
        parse_tolerances(text, "t.yaml")
    assert str(caught.value).startswith(message), caught.value


def test_a_file_is_read_bounded_and_decoded(tmp_path: Path) -> None:
    good = tmp_path / "t.yaml"
    good.write_text(GOOD)
    assert load_tolerances(good).file == good
    with pytest.raises(CompareInputError, match="cannot read the tolerance file"):
        load_tolerances(tmp_path / "missing.yaml")
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"metrics:\n  \xff: 1\n")
    with pytest.raises(CompareInputError, match=r"b.yaml:2: the tolerance file is not UTF-8"):
        load_tolerances(binary)
    big = tmp_path / "big.yaml"
    big.write_text("#" * (2 * 2**20))
    with pytest.raises(CompareInputError, match="larger than 1 MiB"):
        load_tolerances(big)
