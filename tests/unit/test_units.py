"""Durations, sizes, bandwidths, energies and powers: exact integers, a unit always, helpful
refusals."""

from __future__ import annotations

import pytest

from xedgesim.units import (
    UnitError,
    format_duration,
    parse_bandwidth,
    parse_duration,
    parse_energy,
    parse_power,
    parse_size,
    seconds_text,
    unit_list,
)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("5ms", 5_000_000),
        ("1.5s", 1_500_000_000),
        ("2min", 120_000_000_000),
        ("1h", 3_600_000_000_000),
        ("250us", 250_000),
        ("250µs", 250_000),
        ("250μs", 250_000),
        ("7ns", 7),
        ("1e3us", 1_000_000),
        (".5s", 500_000_000),
        ("2 min", 120_000_000_000),
        ("0", 0),
        (0, 0),
        ("0.0s", 0),
    ],
)
def test_durations(text: object, ns: int) -> None:
    assert parse_duration(text) == ns


def test_sizes_and_bandwidths() -> None:
    assert parse_size("64B") == 64
    assert parse_size("250kB") == 250_000
    assert parse_size("1KiB") == 1024
    assert parse_size("1MiB") == 1_048_576
    assert parse_bandwidth("10Mbit") == 10_000_000
    assert parse_bandwidth("250kbit/s") == 250_000
    assert parse_bandwidth("1Gbps") == 1_000_000_000


def test_bare_number_needs_a_unit_and_the_hint_lists_units() -> None:
    with pytest.raises(UnitError) as info:
        parse_duration(5)
    assert info.value.reason == "needs a unit: found the bare number 5"
    assert info.value.hint is not None
    assert "'5s' or '5ms'" in info.value.hint
    assert unit_list("duration") in info.value.hint
    with pytest.raises(UnitError) as info:
        parse_duration("5")
    assert info.value.reason == "needs a unit: found '5'"


def test_negative_is_refused() -> None:
    for text in ("-5ms", -1, " -1s"):
        with pytest.raises(UnitError, match="cannot be negative"):
            parse_duration(text)


def test_unit_of_another_kind_is_named() -> None:
    with pytest.raises(UnitError) as info:
        parse_duration("10Mbit")
    assert info.value.reason == (
        "needs a duration unit, not the bandwidth unit 'Mbit': found '10Mbit'"
    )


@pytest.mark.parametrize(
    ("text", "guess"), [("5sec", "s"), ("5MS", "ms"), ("3 m", "min"), ("2hours", "h")]
)
def test_unknown_unit_suggests_the_intended_one(text: str, guess: str) -> None:
    with pytest.raises(UnitError) as info:
        parse_duration(text)
    assert info.value.hint is not None
    assert info.value.hint.startswith(f"did you mean '{guess}'?")


@pytest.mark.parametrize("text", ["fast", "", "5ms5", True, None, [1], "inf s"])
def test_malformed_values(text: object) -> None:
    with pytest.raises(UnitError, match="must be written like '5ms'"):
        parse_duration(text)


def test_absurdly_large_values_are_refused() -> None:
    for text in ("1e400s", "1e30h"):
        with pytest.raises(UnitError, match="too large"):
            parse_duration(text)


def test_message_reads_as_a_sentence() -> None:
    with pytest.raises(UnitError) as info:
        parse_size(64)
    assert str(info.value).startswith("a size needs a unit: found the bare number 64 (")


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0ns"),
        (5_000_000, "5ms"),
        (90_000_000_000, "90s"),
        (120_000_000_000, "2min"),
        (1, "1ns"),
    ],
)
def test_format_duration(ns: int, text: str) -> None:
    assert format_duration(ns) == text
    assert parse_duration(text) == ns


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("9007199254740993ns", 2**53 + 1),  # a float would give 2**53
        ("4611686018427387903ns", 2**62 - 1),
        ("4611686018427387.903us", 2**62 - 1),
        ("1152921504.606846976s", 2**60),
        ("0.1s", 100_000_000),
        ("1e-60s", 0),  # below a nanosecond, without building 10**60
    ],
)
def test_durations_are_exact_beyond_float_precision(text: str, ns: int) -> None:
    assert parse_duration(text) == ns


def test_sizes_are_exact_beyond_float_precision() -> None:
    assert parse_size("9007199254740993B") == 2**53 + 1


@pytest.mark.parametrize("text", ["1e999999999s", "4611686018427387905ns", "1" * 65 + "s"])
def test_huge_or_long_quantities_are_refused_without_computing_them(text: str) -> None:
    with pytest.raises(UnitError):
        parse_duration(text)


def test_false_is_refused_even_after_zero() -> None:
    """Parsing is cached; False == 0 must not share an answer with 0."""
    assert parse_duration(0) == 0
    with pytest.raises(UnitError):
        parse_duration(False)


@pytest.mark.parametrize(("text", "pj"), [
    ("0.2mJ", 200_000_000), ("153.6nJ", 153_600), ("1.5uJ", 1_500_000), ("1.5µJ", 1_500_000),
    ("2.4kJ", 2_400 * 10**12), ("0.675Wh", 2_430 * 10**12), ("1mWh", 3_600_000_000_000),
    ("7pJ", 7), (0, 0),
])
def test_energies_are_whole_picojoules(text: object, pj: int) -> None:
    assert parse_energy(text) == pj


def test_powers_are_whole_picowatts() -> None:
    assert parse_power("4.5uW") == 4_500_000
    assert parse_power("14.4mW") == 14_400_000_000
    assert parse_power("2W") == 2 * 10**12


def test_a_charge_is_not_an_energy_and_the_hint_converts_it() -> None:
    with pytest.raises(UnitError) as info:
        parse_energy("225mAh")
    assert info.value.reason == "needs an energy unit, and 'mAh' is one of charge: found '225mAh'"
    assert info.value.hint == "an energy is charge × voltage: 225mAh at 3 V is 0.675Wh"


def test_power_and_energy_units_are_told_apart() -> None:
    with pytest.raises(UnitError, match="needs an energy unit, not the power unit 'mW'"):
        parse_energy("5mW")
    with pytest.raises(UnitError, match="needs a power unit, not the energy unit 'uJ'"):
        parse_power("5uJ")


@pytest.mark.parametrize(("ns", "text"), [(0, "0"), (12_500_000_000, "12.5"), (1, "0.000000001"),
                                          (3 * 10**9, "3")])
def test_seconds_text_is_exact(ns: int, text: str) -> None:
    assert seconds_text(ns) == text
