"""Distributions for jitter (durations) and sensor values (plain numbers)."""

from __future__ import annotations

import pytest

from xedgesim.scenario.model import Distribution

from .helpers import load, one, scenario_text


def jitter(text: str) -> Distribution | None:
    return load(scenario_text(network=f"default: {{jitter: {text}}}")).network.default.jitter


def value(text: str) -> Distribution:
    scenario = load(
        scenario_text(f"- {{id: s2, type: sensor, interval: 1s, to: gw1, value: {text}}}")
    )
    return scenario.node("s2").params.value  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{constant: 2ms}", Distribution("constant", (2e6,))),
        ("{exponential: 2ms}", Distribution("exponential", (2e6,))),
        ("{exponential: {mean: 3us}}", Distribution("exponential", (3e3,))),
        ("{normal: {mean: 5ms, std: 1ms}}", Distribution("normal", (5e6, 1e6))),
        ("{uniform: [1ms, 3ms]}", Distribution("uniform", (1e6, 3e6))),
        ("{uniform: {low: 0s, high: 1ms}}", Distribution("uniform", (0.0, 1e6))),
    ],
)
def test_jitter_kinds_in_nanoseconds(text: str, expected: Distribution) -> None:
    assert jitter(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{constant: 21}", Distribution("constant", (21.0,))),
        ("{normal: {mean: -4, std: 0.5}}", Distribution("normal", (-4.0, 0.5))),
        ("{uniform: [-1, 1]}", Distribution("uniform", (-1.0, 1.0))),
        ("{exponential: 3}", Distribution("exponential", (3.0,))),
    ],
)
def test_sensor_values_are_plain_numbers(text: str, expected: Distribution) -> None:
    assert value(text) == expected


def jitter_problem(text: str) -> str:
    return one(scenario_text(network=f"default: {{jitter: {text}}}")).message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{}",
            "'jitter' in the default link must name a distribution: "
            "constant, exponential, normal or uniform",
        ),
        ("{exponental: 2ms}", "unknown key 'exponental' in 'jitter' in the default link"),
        (
            "{constant: 1ms, exponential: 2ms}",
            "'jitter' in the default link gives several "
            "distributions (constant and exponential); give one",
        ),
        (
            "{exponential: 0ms}",
            "the mean of the exponential distribution of 'jitter' in the "
            "default link must be greater than zero",
        ),
        (
            "{normal: {mean: 1ms}}",
            "missing required key 'std' in the normal distribution of 'jitter' in the default link",
        ),
        (
            "{normal: 1ms}",
            "the normal distribution of 'jitter' in the default link must be a "
            "mapping ({mean: ..., std: ...}), found '1ms'",
        ),
        (
            "{uniform: [3ms, 1ms]}",
            "the uniform distribution of 'jitter' in the default link has "
            "its high end below its low end",
        ),
        (
            "{uniform: [1ms]}",
            "the uniform distribution of 'jitter' in the default link must be "
            "[LOW, HIGH], found 1 values",
        ),
        (
            "{constant: 5}",
            "the constant value of 'jitter' in the default link needs a unit: "
            "found the bare number 5",
        ),
        (
            "[1ms]",
            "'jitter' in the default link must be a mapping ({exponential: 2ms}), found a list",
        ),
    ],
)
def test_jitter_problems(text: str, message: str) -> None:
    assert jitter_problem(text) == message


def test_scalar_instead_of_a_distribution_suggests_constant() -> None:
    problem = one(scenario_text(network="default: {jitter: 2ms}"))
    assert problem.message == (
        "'jitter' in the default link must be a distribution such as {exponential: 2ms}, "
        "found '2ms'"
    )
    assert problem.hint == "for a fixed value write {constant: 2ms}"


def test_unknown_kind_gets_a_suggestion() -> None:
    assert one(scenario_text(network="default: {jitter: {normall: {}}}")).hint == (
        "did you mean 'normal'?"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{normal: {mean: 20, std: -1}}",
            "'std' of the normal distribution of 'value' in node 's2' cannot be negative",
        ),
        (
            "{constant: 20C}",
            "the constant value of 'value' in node 's2' must be a number, found '20C'",
        ),
        (
            "{uniform: {low: 5, high: 1}}",
            "the uniform distribution of 'value' in node 's2' has its high end below its low end",
        ),
        (
            "{normal: {mean: .inf, std: 1}}",
            "'mean' of the normal distribution of 'value' in node "
            "'s2' must be a finite number, found .inf",
        ),
    ],
)
def test_value_problems(text: str, message: str) -> None:
    scenario = scenario_text(f"- {{id: s2, type: sensor, interval: 1s, to: gw1, value: {text}}}")
    assert one(scenario).message == message

