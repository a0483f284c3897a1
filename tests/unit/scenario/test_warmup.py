"""The top-level ``warmup:``: read, defaulted to 0, and refused where written."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import load, messages, scenario_text

S = 1_000_000_000


def test_warmup_is_read_and_defaults_to_zero() -> None:
    assert load(scenario_text()).warmup_ns == 0
    assert load(scenario_text(head="duration: 60s\nwarmup: 12.5s\n")).warmup_ns == 12 * S + S // 2
    assert load(scenario_text(head="duration: 60s\nwarmup: 0s\n")).warmup_ns == 0


@pytest.mark.parametrize(("warmup", "message"), [
    ("60s", "'warmup' in the scenario must be shorter than 'duration' (1min), found 1min "
            "(messages sent before the warmup ends are left out of the metrics, so nothing "
            "would be measured)"),
    ("2h", "'warmup' in the scenario must be shorter than 'duration' (1min), found 2h"),
    ("30", "'warmup' in the scenario needs a unit: found the bare number 30"),
    ("-5s", "'warmup' in the scenario cannot be negative"),
    ("10MB", "'warmup' in the scenario needs a duration unit, not the size unit 'MB'"),
])
def test_a_wrong_warmup_is_reported_where_it_is_written(warmup: str, message: str) -> None:
    found = messages(scenario_text(head=f"duration: 60s\nwarmup: {warmup}\n"))
    assert len(found) == 1, found
    assert found[0].startswith(f"s.yaml:2:9: {message}"), found


def test_a_warmup_is_not_compared_with_an_unreadable_duration() -> None:
    found = messages(scenario_text(head="duration: 1minute\nwarmup: 2h\n"))
    assert len(found) == 1 and found[0].startswith("s.yaml:1:11:"), found


def test_the_original_layout_says_warmup_is_not_part_of_it() -> None:
    original = (Path(__file__).resolve().parents[3] / "scenarios" / "legacy_example.yaml")
    found = messages(original.read_text() + "warmup: 5s\n")
    assert any("'warmup' is not part of the original xEdgeSim layout" in m for m in found), found
