"""The ``network:`` section: the default link, overrides merged over it, and their checks."""

from __future__ import annotations

import pytest

from xedgesim.scenario.model import Distribution, LinkSpec

from .helpers import load, messages, one, problems, scenario_text


def test_link_override_takes_missing_fields_from_the_default() -> None:
    scenario = load(
        scenario_text(
            network="""
            default: {latency: 5ms, jitter: {constant: 1ms}, loss: 0.1, bandwidth: 2Mbit}
            links:
              - {between: [gw1, cloud], latency: 20ms}
              - {from: sensors, to: gw1, loss: 0, bandwidth: unlimited}
            """
        )
    )
    default = scenario.network.default
    assert default == LinkSpec(5_000_000, Distribution("constant", (1e6,)), 0.1, 2e6)
    first, second = scenario.network.links
    assert (first.a, first.b) == ("gw1", "cloud")
    assert first.spec == LinkSpec(20_000_000, default.jitter, 0.1, 2e6)
    assert (second.a, second.b) == ("sensors", "gw1")
    assert second.spec == LinkSpec(5_000_000, default.jitter, 0.0, None)


def test_unknown_key_in_the_default_link_renders_exactly() -> None:
    text = scenario_text(network="default: {latncy: 5ms}")
    assert messages(text) == [
        "s.yaml:8:13: unknown key 'latncy' in the default link (did you mean 'latency'?)"
    ]


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("latency: -5ms", "'latency' in the default link cannot be negative: found '-5ms'"),
        ("latency: 5", "'latency' in the default link needs a unit: found the bare number 5"),
        (
            "latency: 5Mbit",
            "'latency' in the default link needs a duration unit, not the bandwidth unit 'Mbit': "
            "found '5Mbit'",
        ),
        ("loss: 1.5", "'loss' in the default link must be between 0 and 1, found 1.5"),
        ("loss: -0.1", "'loss' in the default link must be between 0 and 1, found -0.1"),
        ("loss: 150%", "'loss' in the default link must be between 0% and 100%, found '150%'"),
        ("loss: lots", "'loss' in the default link must be a number, found 'lots'"),
        (
            "bandwidth: 0Mbit",
            "'bandwidth' in the default link must be greater than zero, found '0Mbit'",
        ),
        (
            "bandwidth: 10MB",
            "'bandwidth' in the default link needs a bandwidth unit, not the size unit 'MB': "
            "found '10MB'",
        ),
    ],
)
def test_default_link_values(field: str, message: str) -> None:
    assert one(scenario_text(network=f"default: {{{field}}}")).message == message


def test_bare_number_hint_lists_the_units() -> None:
    problem = one(scenario_text(network="default: {bandwidth: 10}"))
    assert problem.hint == (
        "write the unit after the number, e.g. '10Mbit' or '10kbit'; "
        "bandwidth units: bit, kbit, Mbit, Gbit, bps, kbps, Mbps, Gbps"
    )


def test_loss_as_a_percentage_and_in_yaml12_exponent_form() -> None:
    assert load(scenario_text(network="default: {loss: 2.5%}")).network.default.loss == 0.025
    assert load(scenario_text(network="default: {loss: 1e-3}")).network.default.loss == 0.001


def test_link_to_unknown_node_with_suggestion() -> None:
    problem = one(scenario_text(network="links: [{between: [gw1, clod]}]"))
    assert problem.message == "'between' in link #1 names an unknown node 'clod'"
    assert problem.hint == "did you mean 'cloud'?"
    via_to = one(scenario_text(network="links: [{from: gw1, to: clowd}]"))
    assert via_to.message == "'to' in link #1 names an unknown node 'clowd'"


def test_link_from_a_node_to_itself() -> None:
    assert one(scenario_text(network="links: [{between: [gw1, gw1]}]")).message == (
        "link #1 joins node 'gw1' to itself"
    )
    assert one(scenario_text(network="links: [{from: cloud, to: cloud}]")).message == (
        "link #1 joins node 'cloud' to itself"
    )


def test_link_naming_an_instance_is_refused() -> None:
    problem = one(scenario_text(network="links: [{between: [sensors-0, gw1]}]"))
    assert (
        problem.message == "'between' in link #1 names 'sensors-0', one instance of node 'sensors'"
    )


def test_link_given_twice_in_either_direction() -> None:
    problem = one(
        scenario_text(network="links:\n  - {between: [gw1, cloud]}\n  - {from: cloud, to: gw1}")
    )
    assert problem.message == "the link cloud–gw1 is given twice"
    assert problem.hint == "first at line 9; a link covers both directions"


@pytest.mark.parametrize(
    ("link", "message"),
    [
        ("{latency: 5ms}", "link #1 does not say which nodes it joins"),
        ("{from: gw1}", "missing required key 'to' in link #1"),
        ("{between: [gw1]}", "'between' in link #1 must name exactly two nodes, found 1"),
        ("{between: gw1}", "'between' in link #1 must be a list ([gw1, cloud]), found 'gw1'"),
        ("{between: [gw1, cloud], from: gw1}", "link #1 gives both 'between' and 'from'"),
    ],
)
def test_link_ends(link: str, message: str) -> None:
    assert one(scenario_text(network=f"links: [{link}]")).message == message


def test_link_values_are_checked_with_the_link_named() -> None:
    problem = one(scenario_text(network="links: [{between: [gw1, cloud], latncy: 1ms}]"))
    assert problem.message == "unknown key 'latncy' in the link gw1–cloud"


def test_network_shape() -> None:
    assert (
        one(scenario_text(network="defaults: {}")).message == "unknown key 'defaults' in 'network'"
    )
    text = scenario_text(head="duration: 60s\nnetwork: fast\n")
    assert (
        one(text).message
        == "'network' must be a mapping (default: {...}, links: [...]), found 'fast'"
    )
    assert len(problems(scenario_text(network="links: {a: b}"))) == 1


def test_zero_values_of_a_link_override_the_default() -> None:
    scenario = load(scenario_text(network="""
        default: {latency: 5ms, loss: 0.1, bandwidth: 1Mbit}
        links:
          - {between: [gw1, cloud], latency: 0, loss: 0, bandwidth: unlimited}
    """))
    assert scenario.network.links[0].spec == LinkSpec(latency_ns=0, loss=0.0, bandwidth_bps=None)


def test_a_latency_written_again_reads_the_same_and_a_bad_one_is_reported_each_time() -> None:
    """Quantities are parsed once per text: the second use must still be read, and a wrong
    one still reported at every place it is written."""
    good = load(scenario_text(network="""
        default: {latency: 7ms}
        links:
          - {between: [gw1, cloud], latency: 7ms}
          - {between: [sensors, gw1], latency: 7ms}
        """))
    assert [link.spec.latency_ns for link in good.network.links] == [7_000_000, 7_000_000]
    bad = scenario_text(network="""
        links:
          - {between: [gw1, cloud], latency: 7 parsecs}
          - {between: [sensors, gw1], latency: 7 parsecs}
        """)
    assert [p.location.line for p in problems(bad)] == [9, 10]
