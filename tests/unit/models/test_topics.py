"""MQTT 3.1.1 topic filters (section 4.7), checked against the specification's own examples."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from xedgesim.models.topics import TopicTable, filter_problem, matches, render, topic_problem
from xedgesim.scenario.model import InstanceIds


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        # 4.7.1.2 multi-level wildcard
        ("sport/tennis/player1/#", "sport/tennis/player1", True),
        ("sport/tennis/player1/#", "sport/tennis/player1/ranking", True),
        ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", True),
        ("sport/tennis/player1/#", "sport/tennis/player2", False),
        ("sport/#", "sport", True),
        ("#", "sport/tennis/player1", True),
        ("#", "/", True),
        ("#", "a", True),
        # 4.7.1.3 single-level wildcard
        ("sport/tennis/+", "sport/tennis/player1", True),
        ("sport/tennis/+", "sport/tennis/player2", True),
        ("sport/tennis/+", "sport/tennis/player1/ranking", False),
        ("sport/+", "sport", False),
        ("sport/+", "sport/", True),
        ("sport/+", "sport/tennis/player1", False),
        ("+/+", "/finance", True),
        ("/+", "/finance", True),
        ("+", "/finance", False),
        ("+", "finance", True),
        ("+/tennis/#", "sport/tennis/player1", True),
        ("+/tennis/#", "sport/tennis", True),
        ("sport/+/player1", "sport/tennis/player1", True),
        ("sport/+/player1", "sport/tennis/player2", False),
        # 4.7.2 topics beginning with $
        ("#", "$SYS/broker/uptime", False),
        ("+/monitor/Clients", "$SYS/monitor/Clients", False),
        ("$SYS/#", "$SYS/monitor/Clients", True),
        ("$SYS/#", "$SYS/x", True),
        ("$SYS/monitor/+", "$SYS/monitor/Clients", True),
        ("+", "$SYS", False),
        # 4.7.3 topic semantics: case-sensitive, empty levels count, no trimming
        ("ACCOUNTS", "Accounts", False),
        ("sport/tennis", "sport/tennis", True),
        ("sport/tennis", "sport/tennis/", False),
        ("sport//tennis", "sport//tennis", True),
        ("sport/+/tennis", "sport//tennis", True),
        ("a/b", "a/b/c", False),
        ("a/b/c", "a/b", False),
        ("/", "/", True),
        ("+/+", "/", True),
        ("sensors/+", "sensors/s 1", True),
    ],
)
def test_matches_the_specification_examples(topic_filter: str, topic: str, expected: bool) -> None:
    assert matches(topic_filter, topic) is expected


@pytest.mark.parametrize(
    "topic_filter",
    ["#", "sport/#", "sport/tennis/#", "+", "+/tennis/#", "sport/+/player1", "/", "a//b", "$SYS/#",
     "/+", "+/+"],
)
def test_valid_filters(topic_filter: str) -> None:
    assert filter_problem(topic_filter) is None


@pytest.mark.parametrize(
    ("topic_filter", "problem"),
    [
        ("", "cannot be empty"),
        ("sport/tennis#", "'#' must be a whole level and the last one"),
        ("sport/tennis/#/ranking", "'#' must be a whole level and the last one"),
        ("#/a", "'#' must be a whole level and the last one"),
        ("##", "'#' must be a whole level and the last one"),
        ("sport+", "'+' must be a whole level"),
        ("sport/+tennis", "'+' must be a whole level"),
        ("++", "'+' must be a whole level"),
    ],
)
def test_invalid_filters(topic_filter: str, problem: str) -> None:
    found = filter_problem(topic_filter)
    assert found is not None
    assert problem in found


@pytest.mark.parametrize("topic", ["sensors/s1/temp", "/", "a//b", "$SYS/x", "s1/{id}"])
def test_valid_topics(topic: str) -> None:
    assert topic_problem(topic) is None


@pytest.mark.parametrize(
    ("topic", "problem"),
    [("", "cannot be empty"), ("a/+/b", "wildcards"), ("a/#", "wildcards"), ("a+b", "wildcards"),
     ("#", "wildcards")],
)
def test_invalid_topics(topic: str, problem: str) -> None:
    found = topic_problem(topic)
    assert found is not None
    assert problem in found


_level = st.text(st.sampled_from("ab$ 01_-."), max_size=4)
_topic_levels = st.lists(_level, min_size=1, max_size=6)


def _join(levels: list[str]) -> str:
    return "/".join(levels)


def _dollar(levels: list[str]) -> bool:
    return levels[0].startswith("$")


@settings(deadline=None)
@given(_topic_levels)
def test_a_topic_matches_itself(levels: list[str]) -> None:
    assert matches(_join(levels), _join(levels))


@settings(deadline=None)
@given(_topic_levels, st.data())
def test_one_level_replaced_by_plus_matches(levels: list[str], data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(levels) - 1))
    topic_filter = _join([*levels[:position], "+", *levels[position + 1:]])
    assert filter_problem(topic_filter) is None
    # a wildcard first level never matches a $-topic
    assert matches(topic_filter, _join(levels)) is not (position == 0 and _dollar(levels))


@settings(deadline=None)
@given(_topic_levels, st.data())
def test_a_prefix_followed_by_hash_matches(levels: list[str], data: st.DataObject) -> None:
    keep = data.draw(st.integers(0, len(levels)))
    topic_filter = _join([*levels[:keep], "#"])
    assert filter_problem(topic_filter) is None
    assert matches(topic_filter, _join(levels)) is not (keep == 0 and _dollar(levels))


@settings(deadline=None)
@given(_topic_levels, st.data())
def test_a_different_literal_level_does_not_match(levels: list[str], data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(levels) - 1))
    other = data.draw(_level)
    assume(other != levels[position])
    topic_filter = _join([*levels[:position], other, *levels[position + 1:]])
    assert not matches(topic_filter, _join(levels))


@settings(deadline=None)
@given(_topic_levels, _topic_levels)
def test_literal_filters_match_only_equal_topics(first: list[str], second: list[str]) -> None:
    assert matches(_join(first), _join(second)) is (first == second)


@settings(deadline=None)
@given(_topic_levels, st.data())
def test_extra_or_missing_levels_do_not_match(levels: list[str], data: st.DataObject) -> None:
    extra = data.draw(_level)
    assert not matches(_join(levels), _join([*levels, extra]))
    assert not matches(_join([*levels, extra]), _join(levels))


def test_render_fills_id_and_index() -> None:
    assert render("sensors/{id}/temp", "s-7", 7) == "sensors/s-7/temp"
    assert render("fleet/{index}/{id}/{index}", "a", 12) == "fleet/12/a/12"
    assert render("static/topic", "a", 0) == "static/topic"


def test_topic_table_interns_to_dense_ids() -> None:
    table = TopicTable()
    assert table.names == []
    assert table.intern("a/b") == 0
    assert table.intern("c") == 1
    assert table.intern("a/b") == 0
    assert table.intern("") == 2
    assert table.names == ["a/b", "c", ""]


@settings(deadline=None)
@given(st.lists(st.text("ab/$", max_size=3), max_size=30))
def test_topic_table_round_trips(topics: list[str]) -> None:
    table = TopicTable()
    ids = [table.intern(topic) for topic in topics]
    assert [table.names[i] for i in ids] == topics
    assert table.names == list(dict.fromkeys(topics))


class _ReferenceTable:
    """Topics interned one by one, as the table did before fleets got ranges."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.ids: dict[str, int] = {}

    def intern(self, topic: str) -> int:
        if topic not in self.ids:
            self.ids[topic] = len(self.names)
            self.names.append(topic)
        return self.ids[topic]


_templates = st.sampled_from(["{id}/data", "s/{id}", "s/{index}", "{index}", "{index}1",
                              "s-{index}", "a{id}", "x/{id}/{index}", "{index}{index}", "s/1",
                              "static"])
# Node ids are unique and no node is named like another's instance (the loader sees to it).
_fleets = st.lists(st.tuples(st.sampled_from(["s", "a", "s-x", "as", "ss"]),
                             st.integers(1, 25), _templates), max_size=5,
                   unique_by=lambda fleet: fleet[0])
_singles = st.lists(st.text("as-/0123{}", max_size=6), max_size=4)


@settings(deadline=None)
@given(_fleets, _singles, _singles)
def test_fleet_ranges_give_the_ids_of_interning_one_by_one(
        fleets: list[tuple[str, int, str]], before: list[str], after: list[str]) -> None:
    """Whatever fleets and single topics come in whatever order, even ones that collide."""
    table, reference = TopicTable(), _ReferenceTable()
    for topic in before:
        assert table.intern(topic) == reference.intern(topic)
    for node, count, template in fleets:
        instances = InstanceIds(node, count)
        ids = table.intern_fleet(template, instances).of(np.arange(count))
        expected = [reference.intern(render(template, name, i))
                    for i, name in enumerate(instances)]
        assert ids.tolist() == expected
    for topic in after + [reference.names[i] for i in range(0, len(reference.names), 3)]:
        assert table.intern(topic) == reference.intern(topic)
    assert table.names == reference.names
    assert len(table.names) == len(reference.names)


def test_a_fleet_with_its_own_topics_is_a_range_of_names_made_when_asked() -> None:
    table = TopicTable()
    table.intern("agg/gw1")
    ids = table.intern_fleet("site/{id}/t", InstanceIds("sensors", 1000))
    assert ids.of(np.array([0, 999])).tolist() == [1, 1000]
    assert not table._ids.keys() - {"agg/gw1"}  # no string per sensor was made
    assert table.names[1000] == "site/sensors-999/t"
    assert table.intern("site/sensors-042/t") == 43


def test_instance_ids_are_made_from_their_shape() -> None:
    ids = InstanceIds("sensors", 11)
    assert list(ids) == [f"sensors-{i:02d}" for i in range(11)]
    assert ids[-1] == "sensors-10" and ids[2:4] == ["sensors-02", "sensors-03"]
    assert "sensors-07" in ids and ids.index("sensors-07") == 7
    assert "sensors-7" not in ids and "sensors-11" not in ids and "other-01" not in ids
    assert list(InstanceIds("gw1", 1)) == ["gw1"] and "gw1" in InstanceIds("gw1", 1)
