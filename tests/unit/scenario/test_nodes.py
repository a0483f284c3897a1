"""The ``nodes:`` list: ids, types, implementations, per-type keys, publishing and subscribing."""

from __future__ import annotations

import pytest

from xedgesim import registry
from xedgesim.scenario.model import Location, Subscription

from .helpers import FILE, FIRST_EXTRA_LINE, load, messages, one, problems, scenario_text


@pytest.fixture
def docker_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.NODE_CLASSES, ("broker", "docker"), "tests:NoSuchClass")


# -- ids, types, implementations ---------------------------------------------------------------


def test_duplicate_node_id() -> None:
    problem = one(scenario_text("- {id: gw1, type: gateway}"))
    assert problem.message == "duplicate node id 'gw1'"
    assert problem.hint == "first used at line 4"
    assert problem.location is not None and problem.location.line == FIRST_EXTRA_LINE


def test_instance_id_clashing_with_a_node_id() -> None:
    problem = one(scenario_text("- {id: sensors-1, type: cloud}"))
    assert problem.message == "node id 'sensors-1' clashes with an instance of node 'sensors'"
    assert problem.hint == "count 3 makes sensors-0 … sensors-2"


@pytest.mark.parametrize("bad", ["'gw 2'", "-x", "a/b", "'caf+'"])
def test_node_id_characters(bad: str) -> None:
    problem = one(scenario_text(f"- {{id: {bad}, type: cloud}}"))
    assert "may contain only letters, digits" in problem.message


def test_missing_id_and_type() -> None:
    assert [p.message for p in problems(scenario_text("- {type: cloud}"))] == [
        "missing required key 'id' in node #5"
    ]
    assert [p.message for p in problems(scenario_text("- {id: c2}"))] == [
        "missing required key 'type' in node 'c2'"
    ]


def test_unknown_node_type() -> None:
    problem = one(scenario_text("- {id: c2, type: clowd}"))
    assert problem.message == (
        "'type' in node 'c2' must be one of sensor, gateway, broker or cloud, found 'clowd'"
    )
    assert problem.hint == "did you mean 'cloud'?"


def test_unknown_type_does_not_cause_key_noise() -> None:
    assert (
        len(problems(scenario_text("- {id: c2, type: clowd, subscribe: [a], interval: 1s}"))) == 1
    )


def test_implementation_not_registered_for_the_type() -> None:
    problem = one(scenario_text("- {id: c2, type: cloud, implementation: docker}"))
    assert problem.message == "implementation 'docker' is not available for cloud nodes"
    assert problem.hint == "available: python_model"


def test_implementation_typo_gets_a_suggestion() -> None:
    assert one(scenario_text("- {id: c2, type: cloud, implementation: python_modl}")).hint == (
        "did you mean 'python_model'?"
    )


def test_docker_node_needs_an_image(docker_broker: None) -> None:
    problem = one(scenario_text("- {id: b2, type: broker, implementation: docker}"))
    assert problem.message == "node 'b2' runs in docker and needs 'image'"


def test_image_and_docker_only_with_implementation_docker() -> None:
    found = messages(scenario_text("- {id: b2, type: broker, image: x, docker: {ports: {}}}"))
    assert [message.split(": ", 1)[1] for message in found] == [
        "'image' in node 'b2' is only used with implementation: docker "
        "(this node runs as python_model)",
        "'docker' in node 'b2' is only used with implementation: docker "
        "(this node runs as python_model)",
    ]


GATEWAY = "- {id: gw2, type: gateway, implementation: docker, image: xedgesim/gateway, "


def test_docker_options_are_checked_and_kept_in_the_shape_nodes_read() -> None:
    text = scenario_text(GATEWAY + "docker: {timeout: 5s, environment: {A: 1, B: x}}}")
    assert load(text).node("gw2").docker == {
        "timeout": "5s",
        "environment": {"A": "1", "B": "x"},
    }
    text = scenario_text(GATEWAY + "docker: {mode: service}, subscribe: [a/#]}")
    assert load(text).node("gw2").docker == {"mode": "service"}


@pytest.mark.parametrize(
    ("docker", "column", "message", "hint"),
    [
        (
            "{timeout: banana}",
            97,
            "'timeout' in 'docker' in node 'gw2' must be written like '5ms': found 'banana'",
            None,
        ),
        ("{timeout: 2h}", 97, "'timeout' in 'docker' in node 'gw2' must be at most 1h, "
         "found '2h'", None),
        ("{timout: 5s}", 88, "unknown key 'timout' in 'docker' in node 'gw2'",
         "did you mean 'timeout'?"),
        (
            "{environment: [A=1]}",
            101,
            "'environment' in 'docker' in node 'gw2' must be a mapping ({LOG_LEVEL: debug}), "
            "found a list",
            None,
        ),
        (
            "{environment: {A: [1]}}",
            105,
            "'environment' in 'docker' in node 'gw2': 'A' must be text or a number, found a list",
            "quote it to pass it as text, e.g. 'true'",
        ),
        (
            "{environment: {1A: x}}",
            102,
            "'environment' in 'docker' in node 'gw2': '1A' is not a variable name",
            "letters, digits and '_', not starting with a digit",
        ),
        (
            "{mode: lockstep}",
            94,
            "'mode' in 'docker' in node 'gw2' must be one of protocol or service, "
            "found 'lockstep'",
            None,
        ),
        (
            "{mode: service, timeout: 5s}",
            103,
            "'timeout' in 'docker' in node 'gw2' is not read in mode service",
            "only gateway nodes in mode protocol read it",
        ),
    ],
)
def test_bad_docker_options_are_located(
    docker: str, column: int, message: str, hint: str | None
) -> None:
    """They used to pass validate and fail (or be ignored) only when the container started."""
    extra = ", subscribe: [a/#]" if "service" in docker else ""
    problem = one(scenario_text(GATEWAY + f"docker: {docker}{extra}}}"))
    assert problem.location == Location(FILE, FIRST_EXTRA_LINE, column)
    assert problem.message == message
    assert problem.hint == hint


def test_a_docker_broker_reads_no_options(docker_broker: None) -> None:
    found = messages(scenario_text(
        "- {id: b2, type: broker, implementation: docker, image: x, "
        "docker: {environment: {A: b}, ports: {1883: 1883}}}"
    ))
    assert found == [
        f"{FILE}:7:71: 'environment' in 'docker' in node 'b2' is not read by a broker node "
        "(only gateway nodes in mode protocol read it)",
        f"{FILE}:7:92: unknown key 'ports' in 'docker' in node 'b2' (known here: none)",
    ]


def test_key_of_another_node_type() -> None:
    problem = one(scenario_text("- {id: g2, type: gateway, interval: 1s}"))
    assert problem.message == "'interval' is not a key of a gateway node; it belongs to sensor"


def test_key_of_several_other_types() -> None:
    problem = one(scenario_text("- {id: s2, type: sensor, interval: 1s, to: gw1, subscribe: [a]}"))
    assert problem.message == (
        "'subscribe' is not a key of a sensor node; it belongs to gateway and cloud"
    )


def test_unknown_node_key_with_suggestion() -> None:
    problem = one(scenario_text("- {id: s2, type: sensor, intervall: 1s, interval: 1s, to: gw1}"))
    assert problem.message == "unknown key 'intervall' in node 's2'"
    assert problem.hint == "did you mean 'interval'?"


def test_count_only_for_sensors() -> None:
    assert one(scenario_text("- {id: c2, type: cloud, count: 2}")).message == (
        "'count' is not a key of a cloud node; it belongs to sensor"
    )


@pytest.mark.parametrize(
    ("count", "message"),
    [
        ("0", "'count' in node 's2' must be at least 1, found 0"),
        ("-4", "'count' in node 's2' must be at least 1, found -4"),
        ("2.5", "'count' in node 's2' must be a whole number, found 2.5"),
        ("many", "'count' in node 's2' must be a whole number, found 'many'"),
        ("true", "'count' in node 's2' must be a whole number, found true"),
    ],
)
def test_count_must_be_a_whole_number_of_at_least_one(count: str, message: str) -> None:
    text = scenario_text(f"- {{id: s2, type: sensor, count: {count}, interval: 1s, to: gw1}}")
    assert one(text).message == message


# -- sensors -----------------------------------------------------------------------------------


def test_sensor_requires_interval_and_to() -> None:
    assert [p.message for p in problems(scenario_text("- {id: s2, type: sensor}"))] == [
        "missing required key 'interval' in node 's2'",
        "missing required key 'to' in node 's2'",
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0s", "'interval' in node 's2' must be greater than zero, found '0s'"),
        ("-1s", "'interval' in node 's2' cannot be negative: found '-1s'"),
        ("2", "'interval' in node 's2' needs a unit: found the bare number 2"),
        (
            "64B",
            "'interval' in node 's2' needs a duration unit, not the size unit 'B': found '64B'",
        ),
        ("soon", "'interval' in node 's2' must be written like '5ms': found 'soon'"),
        ("[1s]", "'interval' in node 's2' must be a duration such as '5ms', found a list"),
    ],
)
def test_sensor_interval(value: str, message: str) -> None:
    assert one(
        scenario_text(f"- {{id: s2, type: sensor, interval: {value}, to: gw1}}")
    ).message == (message)


def test_process_and_phase() -> None:
    scenario = load(
        scenario_text(
            "- {id: s2, type: sensor, interval: 1s, to: gw1, process: poisson, phase: 0s}"
        )
    )
    params = scenario.node("s2").params
    assert params.process == "poisson" and params.phase == 0  # type: ignore[union-attr]
    bad = one(scenario_text("- {id: s2, type: sensor, interval: 1s, to: gw1, process: periodc}"))
    assert bad.hint == "did you mean 'periodic'?"
    phase = one(scenario_text("- {id: s2, type: sensor, interval: 1s, to: gw1, phase: randm}"))
    assert (
        phase.message
        == "'phase' in node 's2' must be 'random' or a duration such as '0s', found 'randm'"
    )
    assert phase.hint == "did you mean 'random'?"


@pytest.mark.parametrize("target", ["sensors", "s2"])
def test_to_must_not_be_a_sensor_or_itself(target: str) -> None:
    problem = one(scenario_text(f"- {{id: s2, type: sensor, interval: 1s, to: {target}}}"))
    if target == "s2":
        assert problem.message == "'to' in node 's2' names the node itself"
    else:
        assert problem.message == (
            "'to' in node 's2' names 'sensors', which is a sensor; "
            "it must be a gateway, broker or cloud"
        )


def test_gateway_to_itself() -> None:
    assert one(scenario_text("- {id: g2, type: gateway, to: g2}")).message == (
        "'to' in node 'g2' names the node itself"
    )


def test_to_unknown_node_with_suggestion() -> None:
    problem = one(scenario_text("- {id: s2, type: sensor, interval: 1s, to: gw}"))
    assert problem.message == "'to' in node 's2' names an unknown node 'gw'"
    assert problem.hint == "did you mean 'gw1'?"
    other = one(scenario_text("- {id: s2, type: sensor, interval: 1s, to: zzz}"))
    assert other.hint == "known nodes: sensors, gw1, broker, cloud, s2"


def test_to_naming_an_instance() -> None:
    problem = one(scenario_text("- {id: g2, type: gateway, to: sensors-1}"))
    assert problem.message == "'to' in node 'g2' names 'sensors-1', one instance of node 'sensors'"


def test_an_unusable_id_causes_no_unknown_node_noise() -> None:
    text = scenario_text(
        "- {id: 'gw 2', type: gateway}\n- {id: s2, type: sensor, interval: 1s, to: 'gw 2'}"
    )
    assert len(problems(text)) == 1


# -- publishing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "start"),
    [
        ("'site/+/temp'", "a publish topic cannot contain wildcards"),
        ("'site/#'", "a publish topic cannot contain wildcards"),
        ("''", None),
        ("'$SYS/x'", "topics starting with '$' are reserved"),
        ("'site/{name}'", "the only placeholders are {id} (the instance id) and {index}"),
        ("'site/{id'", "the only placeholders are"),
    ],
)
def test_invalid_publish_topic(topic: str, start: str | None) -> None:
    problem = one(
        scenario_text(f"- {{id: s2, type: sensor, interval: 1s, to: gw1, topic: {topic}}}")
    )
    if start is None:
        assert problem.message == "'topic' in node 's2' must be text, found an empty text"
    else:
        assert problem.message.startswith(f"invalid topic {topic.strip(chr(39))!r} in node 's2': ")
        assert start in problem.message


def test_topic_placeholders_are_accepted() -> None:
    text = scenario_text("- {id: s2, type: sensor, interval: 1s, to: gw1, topic: 'a/{id}/{index}'}")
    assert load(text).node("s2").params.publish.topic == "a/{id}/{index}"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("qos", "message", "hint"),
    [
        (
            "2",
            "'qos' in node 's2': QoS 2 is not supported",
            "use 0 for at most once or 1 for at least once",
        ),
        ("3", "'qos' in node 's2' must be 0 or 1, found 3", None),
        ("high", "'qos' in node 's2' must be a whole number, found 'high'", None),
    ],
)
def test_qos(qos: str, message: str, hint: str | None) -> None:
    problem = one(scenario_text(f"- {{id: s2, type: sensor, interval: 1s, to: gw1, qos: {qos}}}"))
    assert (problem.message, problem.hint) == (message, hint)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("retain", "'yes'", "'retain' in node 's2' must be true or false, found 'yes'"),
        ("payload", "64", "'payload' in node 's2' needs a unit: found the bare number 64"),
        ("payload", "0B", "'payload' in node 's2' must be greater than zero, found '0B'"),
        (
            "retry_interval",
            "0s",
            "'retry_interval' in node 's2' must be greater than zero, found '0s'",
        ),
        ("max_retries", "-1", "'max_retries' in node 's2' must be at least 0, found -1"),
    ],
)
def test_publishing_values(key: str, value: str, message: str) -> None:
    text = scenario_text(f"- {{id: s2, type: sensor, interval: 1s, to: gw1, {key}: {value}}}")
    assert one(text).message == message


def test_gateway_publishing_keys_need_to() -> None:
    problem = one(scenario_text("- {id: g2, type: gateway, topic: x}"))
    assert problem.message == "'topic' in node 'g2' has no effect without 'to'"


# -- subscribing -------------------------------------------------------------------------------


def test_subscription_list_uses_the_only_broker() -> None:
    scenario = load(scenario_text("- {id: c2, type: cloud, subscribe: ['site/+/temp', '#']}"))
    assert scenario.node("c2").params.subscription == Subscription(  # type: ignore[union-attr]
        "broker", ("site/+/temp", "#"), 0
    )


def test_subscription_list_without_any_broker() -> None:
    nodes = "  - {id: c, type: cloud, subscribe: [a]}\n"
    problem = one(scenario_text(nodes=nodes))
    assert problem.message == "'subscribe' in node 'c' needs a broker, and the scenario has none"
    assert problem.hint == "add a node with type: broker"


def test_subscription_list_with_several_brokers() -> None:
    problem = one(
        scenario_text("- {id: b2, type: broker}\n- {id: c2, type: cloud, subscribe: [a]}")
    )
    assert problem.message == (
        "'subscribe' in node 'c2' does not say which broker, and the scenario has 2 (broker, b2)"
    )
    assert problem.hint == "write subscribe: {broker: broker, topics: [...]}"


def test_subscription_broker_must_exist_and_be_a_broker() -> None:
    unknown = one(scenario_text("- {id: c2, type: cloud, subscribe: {broker: brokr, topics: [a]}}"))
    assert unknown.message == "'broker' of 'subscribe' in node 'c2' names an unknown node 'brokr'"
    assert unknown.hint == "did you mean 'broker'?"
    wrong = one(scenario_text("- {id: c2, type: cloud, subscribe: {broker: gw1, topics: [a]}}"))
    assert wrong.message.endswith("names 'gw1', which is a gateway; it must be a broker")


@pytest.mark.parametrize(
    ("filters", "start"),
    [
        ("['a/#/b']", "invalid topic filter 'a/#/b' in 'subscribe' in node 'c2': '#' must be"),
        ("['a/b#']", "invalid topic filter 'a/b#'"),
        ("['a/+b/c']", "invalid topic filter 'a/+b/c' in 'subscribe' in node 'c2': '+' must be"),
        ("['']", "a topic filter of 'subscribe' in node 'c2' must be text, found an empty"),
        ("[]", "'subscribe' in node 'c2' lists no topics"),
        ("'a/b'", "'subscribe' in node 'c2' must be a list of topic filters or a mapping"),
    ],
)
def test_invalid_topic_filters(filters: str, start: str) -> None:
    problem = one(scenario_text(f"- {{id: c2, type: cloud, subscribe: {filters}}}"))
    assert problem.message.startswith(start), problem


def test_subscription_mapping_keys_and_qos() -> None:
    found = messages(
        scenario_text("- {id: c2, type: cloud, subscribe: {broker: broker, topic: [a], qos: 2}}")
    )
    assert len(found) == 3
    report = "\n".join(found)
    assert "unknown key 'topic' in 'subscribe' in node 'c2' (did you mean 'topics'?)" in report
    assert "missing required key 'topics' in 'subscribe' in node 'c2'" in report
    assert "'qos' of 'subscribe' in node 'c2': QoS 2 is not supported" in report


# -- gateways and brokers ----------------------------------------------------------------------


def test_gateway_and_broker_parameters() -> None:
    scenario = load(
        scenario_text(
            "- {id: g2, type: gateway, aggregate_every: 30s, to: cloud, payload: 1kB}\n"
            "- {id: b2, type: broker, persistence: false, max_retries: 9}"
        ).replace("{id: broker, type: broker}", "{id: broker, type: broker, retry_interval: 3s}")
    )
    gateway = scenario.node("g2").params
    assert gateway.aggregate_every_ns == 30 * 10**9  # type: ignore[union-attr]
    assert gateway.publish.payload_bytes == 1000  # type: ignore[union-attr]
    assert scenario.node("b2").params.persistence is False  # type: ignore[union-attr]
    assert scenario.node("broker").params.retry_interval_ns == 3 * 10**9  # type: ignore[union-attr]


def test_gateway_aggregate_every_must_be_positive() -> None:
    assert one(scenario_text("- {id: g2, type: gateway, aggregate_every: 0s}")).message == (
        "'aggregate_every' in node 'g2' must be greater than zero, found '0s'"
    )


def test_broker_persistence_must_be_a_boolean() -> None:
    assert one(scenario_text("- {id: b2, type: broker, persistence: 1}")).message == (
        "'persistence' in node 'b2' must be true or false, found 1"
    )


def test_node_entry_must_be_a_mapping() -> None:
    assert one(scenario_text("- just-a-name")).message == (
        "node #5 must be a mapping (id: ..., type: ...), found 'just-a-name'"
    )


def test_docker_options_of_an_unavailable_implementation_are_not_reported_again() -> None:
    problem = one(scenario_text("- {id: c2, type: cloud, implementation: docker, image: x, "
                                "docker: {timeout: 5s}}"))
    assert problem.message == "implementation 'docker' is not available for cloud nodes"
