"""Every bound of ``limits`` is refused with a located message before anything is allocated."""

from __future__ import annotations

import pytest

from xedgesim.scenario import Location, limits

from .helpers import FILE, load, messages, one, scenario_text

HINT = "see 'Limits' in docs/scenario.md"


def test_a_count_of_a_billion_is_refused_at_once() -> None:
    """It used to build a billion instance ids first: a MemoryError after 25 s."""
    problem = one(scenario_text(nodes="  - {id: s, type: sensor, count: 1000000000, "
                                "interval: 1s, to: c}\n  - {id: c, type: cloud}\n"))
    assert str(problem) == (
        f"{FILE}:3:34: 'count' in node 's' must be at most 10000000, found 1000000000"
    )


def test_the_sum_of_the_counts_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_INSTANCES", 10)
    problem = one(scenario_text("- {id: more, type: sensor, count: 5, interval: 1s, to: gw1}"))
    assert problem.location == Location(FILE, 7, 37)
    assert problem.message == "with node 'more' the scenario has more than 10 instances"
    assert problem.hint == HINT


def test_instances_are_recognised_without_being_listed() -> None:
    """A fleet of ten million: clash checks and fault targets work on the id's shape."""
    text = scenario_text(
        nodes="  - {id: s, type: sensor, count: 9999999, interval: 1s, to: c}\n"
        "  - {id: c, type: cloud}\n",
        faults="- {at: 1s, node: s-0000042, action: crash}",
    )
    scenario = load(text)
    assert scenario.faults[0].node == "s-0000042"
    assert "instance_ids" not in vars(scenario.nodes[0])  # not computed by the loader
    assert messages(text.replace("s-0000042", "s-9999999")) == [
        f"{FILE}:6:20: 'node' in fault #1 names an unknown node 's-9999999' (known nodes: s, c)"
    ]


@pytest.mark.parametrize(
    ("limit", "section", "text", "message"),
    [
        ("MAX_NODES", "nodes", scenario_text(), "'nodes' has 4 entries, more than 3"),
        (
            "MAX_LINKS",
            "links",
            scenario_text(network="links:\n  - {between: [gw1, cloud]}\n"
                          "  - {between: [gw1, broker]}"),
            "'links' in 'network' has 2 entries, more than 1",
        ),
        (
            "MAX_FAULTS",
            "faults",
            scenario_text(faults="- {at: 1s, node: gw1, action: crash}\n"
                          "- {at: 2s, node: gw1, action: restart}"),
            "'faults' has 2 entries, more than 1",
        ),
    ],
)
def test_list_lengths_are_bounded(
    monkeypatch: pytest.MonkeyPatch, limit: str, section: str, text: str, message: str
) -> None:
    monkeypatch.setattr(limits, limit, 3 if limit == "MAX_NODES" else 1)
    problem = one(text)
    assert problem.message.startswith(message)
    assert problem.hint is not None and HINT in problem.hint


def test_duplicate_links_are_found_among_many() -> None:
    """The duplicate check is a dict lookup per link (it was a scan of every earlier link)."""
    nodes = "".join(f"  - {{id: n{i}, type: cloud}}\n" for i in range(60))
    links = "".join(
        f"- {{between: [n{a}, n{b}]}}\n" for a in range(60) for b in range(a + 1, 60)
    )
    links += "- {between: [n59, n58], latency: 1ms}\n"
    found = messages(scenario_text(nodes=nodes, network="links:\n" + links))
    assert len(found) == 1
    assert "the link n59–n58 is given twice (first at line" in found[0]


def test_a_topic_longer_than_mqtt_allows_is_refused_and_shown_short() -> None:
    topic = "a" * 100_000
    problem = one(scenario_text(f"- {{id: s2, type: sensor, interval: 1s, to: gw1, "
                                f"topic: {topic}}}"))
    assert problem.location == Location(FILE, 7, 58)
    assert problem.message == (
        f"invalid topic '{'a' * 80}…' in node 's2': it is 100,000 bytes long, "
        "more than MQTT's 65,535"
    )


def test_a_long_topic_filter_is_refused() -> None:
    problem = one(scenario_text(f"- {{id: c2, type: cloud, subscribe: [{'b' * 70_000}]}}"))
    assert problem.message.endswith("it is 70,000 bytes long, more than MQTT's 65,535")


def test_the_topics_of_a_fleet_written_out_are_bounded() -> None:
    """60 kB per topic times 10,000 instances would be 600 MB of strings before the run."""
    topic = "t/{id}/" + "x" * 60_000
    problem = one(scenario_text(f"- {{id: s2, type: sensor, count: 10000, interval: 1s, "
                                f"to: gw1, topic: '{topic}'}}"))
    assert problem.message == (
        "the topics of the 10,000 instances of node 's2' take 572 MiB, more than 256 MiB"
    )
    assert problem.hint is not None and HINT in problem.hint
