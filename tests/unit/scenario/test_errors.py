"""Problems render as ``file:line:col: message (hint)`` and a ScenarioError lists them in order."""

from __future__ import annotations

from xedgesim.scenario import Location, Problem, ScenarioError


def test_problem_renders_location_message_and_hint() -> None:
    problem = Problem(
        Location("scenarios/x.yaml", 12, 5),
        "unknown key 'latncy' in the default link",
        "did you mean 'latency'?",
    )
    assert str(problem) == (
        "scenarios/x.yaml:12:5: unknown key 'latncy' in the default link (did you mean 'latency'?)"
    )


def test_problem_without_location_or_hint() -> None:
    assert str(Problem(None, "cannot read it", None)) == "cannot read it"


def test_report_is_sorted_by_location_with_unplaced_problems_first() -> None:
    error = ScenarioError(
        [
            Problem(Location("a.yaml", 10, 1), "third"),
            Problem(Location("a.yaml", 2, 9), "second"),
            Problem(None, "first"),
            Problem(Location("a.yaml", 2, 3), "between"),
        ]
    )
    assert error.report().splitlines() == [
        "first",
        "a.yaml:2:3: between",
        "a.yaml:2:9: second",
        "a.yaml:10:1: third",
    ]
    assert str(error) == error.report()
    assert len(error.problems) == 4
