"""The ``faults:`` list and the replay that catches faults which cannot happen."""

from __future__ import annotations

import pytest

from xedgesim.scenario.model import FaultSpec

from .helpers import load, messages, one, problems, scenario_text

S = 1_000_000_000


def faults_of(text: str) -> tuple[FaultSpec, ...]:
    return load(scenario_text(faults=text)).faults


def fault_problem(text: str) -> str:
    return one(scenario_text(faults=text)).message


def test_each_action_reads_its_target() -> None:
    faults = faults_of(
        """
        - {at: 1s, node: gw1, action: crash}
        - {at: 2s, node: gw1, action: restart}
        - {at: 3s, action: link_down, link: [gw1, cloud], for: 1s}
        - {at: 5s, action: partition, groups: [[sensors, gw1], [cloud, broker]]}
        - {at: 6s, action: heal}
        - {at: 0s, node: sensors-2, action: crash, for: 500ms}
        """
    )
    assert [(f.action, f.at_ns) for f in faults] == [
        ("crash", S),
        ("restart", 2 * S),
        ("link_down", 3 * S),
        ("partition", 5 * S),
        ("heal", 6 * S),
        ("crash", 0),
    ]
    assert faults[0].node == "gw1" and faults[0].link is None and faults[0].duration_ns is None
    assert faults[2].link == ("gw1", "cloud") and faults[2].duration_ns == S
    assert faults[3].groups == (("sensors", "gw1"), ("cloud", "broker"))
    assert faults[4].groups is None
    assert faults[5].node == "sensors-2" and faults[5].duration_ns == S // 2


def test_fault_at_after_the_end() -> None:
    problem = one(scenario_text(faults="- {at: 61s, node: gw1, action: crash}"))
    assert problem.message == "fault #1 happens at 61s, after the scenario ends (1min)"
    assert problem.hint == "'at' must be within [0, duration]"
    assert faults_of("- {at: 60s, node: gw1, action: crash}")[0].at_ns == 60 * S


def test_fault_at_negative() -> None:
    assert fault_problem("- {at: -1s, node: gw1, action: crash}") == (
        "'at' in fault #1 cannot be negative: found '-1s'"
    )


def test_unknown_fault_action() -> None:
    problem = one(scenario_text(faults="- {at: 1s, node: gw1, action: crsh}"))
    assert problem.message == (
        "'action' in fault #1 must be one of crash, restart, link_down, link_up, partition or "
        "heal, found 'crsh'"
    )
    assert problem.hint == "did you mean 'crash'?"


def test_missing_fault_keys() -> None:
    assert [p.message for p in problems(scenario_text(faults="- {node: gw1}"))] == [
        "missing required key 'action' in fault #1",
        "missing required key 'at' in fault #1",
    ]
    assert fault_problem("- {at: 1s, action: crash}") == "missing required key 'node' in fault #1"
    assert fault_problem("- {at: 1s, action: link_up}") == "missing required key 'link' in fault #1"
    assert fault_problem("- {at: 1s, action: partition}") == (
        "missing required key 'groups' in fault #1"
    )


def test_unknown_node_in_a_fault() -> None:
    problem = one(scenario_text(faults="- {at: 1s, node: gw2, action: crash}"))
    assert problem.message == "'node' in fault #1 names an unknown node 'gw2'"
    assert problem.hint == "did you mean 'gw1'?"
    link = one(scenario_text(faults="- {at: 1s, action: link_down, link: [gw1, clod]}"))
    assert link.message == "'link' in fault #1 names an unknown node 'clod'"
    group = one(scenario_text(faults="- {at: 1s, action: partition, groups: [[gw1], [cluod]]}"))
    assert group.message == "group 2 of 'groups' in fault #1 names an unknown node 'cluod'"
    assert group.hint == "did you mean 'cloud'?"


def test_link_fault_of_a_node_to_itself() -> None:
    assert fault_problem("- {at: 1s, action: link_down, link: [gw1, gw1]}") == (
        "the link of fault #1 joins node 'gw1' to itself"
    )


def test_keys_of_another_action() -> None:
    problem = one(scenario_text(faults="- {at: 1s, action: crash, node: gw1, link: [gw1, cloud]}"))
    assert problem.message == "'link' is not used by a crash fault"
    assert problem.hint == "a crash fault takes 'node'"


def test_for_only_on_faults_that_have_a_recovery() -> None:
    text = "- {at: 1s, node: gw1, action: crash}\n- {at: 2s, node: gw1, action: restart, for: 1s}"
    messages_found = messages(scenario_text(faults=text))
    assert len(messages_found) == 1
    assert (
        "'for' is not used by a restart fault ('for' on a crash fault schedules the restart)"
        in (messages_found[0])
    )
    assert fault_problem("- {at: 1s, node: gw1, action: crash, for: 0s}") == (
        "'for' in fault #1 must be greater than zero, found '0s'"
    )


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ("[[gw1]]", "'groups' in fault #1 must list at least two groups, found 1"),
        ("[[gw1], []]", "group 2 of 'groups' in fault #1 is empty"),
        ("[[gw1, cloud], [cloud]]", "'cloud' is in group 1 and group 2 of 'groups' in fault #1"),
        (
            "[gw1, cloud]",
            "group 1 of 'groups' in fault #1 must be a list ([gw1, cloud]), found 'gw1'",
        ),
    ],
)
def test_partition_groups(groups: str, message: str) -> None:
    found = problems(scenario_text(faults=f"- {{at: 1s, action: partition, groups: {groups}}}"))
    assert found[0].message == message


# -- the replay --------------------------------------------------------------------------------


def test_restart_of_a_node_that_is_not_down() -> None:
    assert fault_problem("- {at: 10s, node: gw1, action: restart}") == (
        "restart of node 'gw1' at 10s, but it is not down then"
    )


def test_restart_after_the_for_already_restarted_it() -> None:
    text = "- {at: 10s, node: gw1, action: crash, for: 5s}\n- {at: 20s, node: gw1, action: restart}"
    assert fault_problem(text) == "restart of node 'gw1' at 20s, but it is not down then"


def test_restart_while_a_for_is_pending_is_reported() -> None:
    text = "- {at: 10s, node: gw1, action: crash, for: 5s}\n- {at: 12s, node: gw1, action: restart}"
    problem = one(scenario_text(faults=text))
    assert problem.message == (
        "restart of node 'gw1' at 12s, but the crash at line 8 already ends at 15s by its 'for'"
    )


def test_restart_at_the_same_instant_as_the_crash() -> None:
    text = "- {at: 10s, node: gw1, action: crash}\n- {at: 10s, node: gw1, action: restart}"
    assert fault_problem(text) == "restart of node 'gw1' at 10s, but it is not down then"


def test_crash_again_when_the_for_brings_it_back() -> None:
    faults = faults_of(
        "- {at: 10s, node: gw1, action: crash, for: 5s}\n- {at: 15s, node: gw1, action: crash}"
    )
    assert len(faults) == 2


def test_crash_of_a_node_already_down() -> None:
    text = "- {at: 10s, node: gw1, action: crash}\n- {at: 12s, node: gw1, action: crash}"
    assert fault_problem(text) == "crash of node 'gw1' at 12s, but it is already down (since 10s)"


def test_instances_and_groups_are_separate_targets() -> None:
    text = "- {at: 1s, node: sensors, action: crash}\n- {at: 2s, node: sensors-1, action: restart}"
    assert fault_problem(text) == "restart of node 'sensors-1' at 2s, but it is not down then"


def test_link_up_of_a_link_that_is_not_down() -> None:
    assert fault_problem("- {at: 5s, action: link_up, link: [gw1, cloud]}") == (
        "link_up of the link gw1–cloud at 5s, but it is not down then"
    )


def test_link_up_names_the_link_in_either_order() -> None:
    faults = faults_of(
        "- {at: 1s, action: link_down, link: [gw1, cloud]}\n"
        "- {at: 2s, action: link_up, link: [cloud, gw1]}"
    )
    assert len(faults) == 2


def test_heal_without_a_partition() -> None:
    assert (
        fault_problem("- {at: 5s, action: heal}")
        == "heal at 5s, but no partition is in effect then"
    )


def test_heal_with_other_groups() -> None:
    text = (
        "- {at: 1s, action: partition, groups: [[gw1], [cloud]]}\n"
        "- {at: 2s, action: heal, groups: [[gw1], [broker]]}"
    )
    assert fault_problem(text) == (
        "heal at 2s, but no partition with these groups is in effect then"
    )


def test_heal_repeating_the_groups_in_any_order() -> None:
    faults = faults_of(
        "- {at: 1s, action: partition, groups: [[gw1, sensors], [cloud]]}\n"
        "- {at: 2s, action: heal, groups: [[cloud], [sensors, gw1]]}"
    )
    assert faults[1].groups == (("cloud",), ("sensors", "gw1"))


def test_same_partition_twice() -> None:
    text = (
        "- {at: 1s, action: partition, groups: [[gw1], [cloud]]}\n"
        "- {at: 2s, action: partition, groups: [[cloud], [gw1]]}"
    )
    assert fault_problem(text) == "partition at 2s, but the same partition is in effect (since 1s)"


def test_faults_are_replayed_in_time_order_not_file_order() -> None:
    faults = faults_of(
        "- {at: 20s, node: gw1, action: restart}\n- {at: 10s, node: gw1, action: crash}"
    )
    assert [f.action for f in faults] == ["restart", "crash"]


def test_unreadable_fault_causes_no_replay_noise() -> None:
    text = "- {at: 1x, node: gw1, action: crash}\n- {at: 5s, node: gw1, action: crash}"
    assert len(problems(scenario_text(faults=text))) == 1


def test_bad_duration_causes_no_at_noise() -> None:
    text = scenario_text(head="duration: 60\n", faults="- {at: 100s, node: gw1, action: crash}")
    assert len(problems(text)) == 1
