"""Human units for durations, sizes, bandwidths, energies and powers.

Virtual time is kept as integer nanoseconds everywhere: integers compare exactly, so event
order never depends on floating-point rounding. A quantity must carry its unit: a bare ``5`` in a
scenario is ambiguous (seconds? milliseconds?) and is refused with a hint; only ``0`` may be bare.
"""

from __future__ import annotations

import difflib
import functools
import re
from decimal import Decimal
from fractions import Fraction

from xedgesim.errors import BadInput

NS_PER_S = 1_000_000_000
MAX_QUANTITY = 2**62
"""Any duration (ns), size (bytes), bandwidth (bit/s), energy (pJ) or power (pW) above this
is refused as too large."""
MAX_QUANTITY_CHARS = 64
"""A quantity written with more characters than this is refused unread."""
_TINY_DIGITS = 40  # 1e-40 of any unit is zero at the resolution we keep
_HUGE_DIGITS = 30  # 1e30 of any unit is above MAX_QUANTITY

DURATION_UNITS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # micro sign
    "μs": 1_000,  # greek mu
    "ms": 1_000_000,
    "s": NS_PER_S,
    "min": 60 * NS_PER_S,
    "h": 3600 * NS_PER_S,
}
SIZE_UNITS: dict[str, int] = {
    "B": 1,
    "kB": 1_000,
    "KB": 1_000,
    "KiB": 1_024,
    "MB": 1_000_000,
    "MiB": 1_048_576,
    "GB": 1_000_000_000,
    "GiB": 1_073_741_824,
}
BANDWIDTH_UNITS: dict[str, int] = {
    "bit": 1,
    "bps": 1,
    "bit/s": 1,
    "kbit": 1_000,
    "Kbit": 1_000,
    "kbps": 1_000,
    "kbit/s": 1_000,
    "Mbit": 1_000_000,
    "Mbps": 1_000_000,
    "Mbit/s": 1_000_000,
    "Gbit": 1_000_000_000,
    "Gbps": 1_000_000_000,
    "Gbit/s": 1_000_000_000,
}

PJ_PER_J = 10**12
# Energy in whole picojoules and power in whole picowatts: a sensor's energy is kept as an
# exact integer sum (docs/simulation.md, "Energy and battery").
ENERGY_UNITS: dict[str, int] = {
    "pJ": 1,
    "nJ": 1_000,
    "uJ": 1_000_000,
    "µJ": 1_000_000,  # micro sign
    "μJ": 1_000_000,  # greek mu
    "mJ": 1_000_000_000,
    "J": PJ_PER_J,
    "kJ": 1_000 * PJ_PER_J,
    "mWh": 3_600 * 1_000_000_000,
    "Wh": 3_600 * PJ_PER_J,
    "kWh": 3_600_000 * PJ_PER_J,
}
POWER_UNITS: dict[str, int] = {
    "pW": 1,
    "nW": 1_000,
    "uW": 1_000_000,
    "µW": 1_000_000,  # micro sign
    "μW": 1_000_000,  # greek mu
    "mW": 1_000_000_000,
    "W": PJ_PER_J,
    "kW": 1_000 * PJ_PER_J,
}

_KINDS: dict[str, tuple[dict[str, int], str]] = {
    "duration": (DURATION_UNITS, "5ms"),
    "size": (SIZE_UNITS, "64B"),
    "bandwidth": (BANDWIDTH_UNITS, "10Mbit"),
    "energy": (ENERGY_UNITS, "2.4kJ"),
    "power": (POWER_UNITS, "4.5uW"),
}
# The units shown in hints (the tables above also accept a few other spellings).
_SHOWN = {
    "duration": ("ns", "us", "ms", "s", "min", "h"),
    "size": ("B", "kB", "MB", "GB", "KiB", "MiB", "GiB"),
    "bandwidth": ("bit", "kbit", "Mbit", "Gbit", "bps", "kbps", "Mbps", "Gbps"),
    "energy": ("pJ", "nJ", "uJ", "mJ", "J", "kJ", "mWh", "Wh", "kWh"),
    "power": ("pW", "nW", "uW", "mW", "W", "kW"),
}
# How to fix a bare number N: the units it most likely meant.
_LIKELY = {"duration": ("s", "ms"), "size": ("B", "kB"), "bandwidth": ("Mbit", "kbit"),
           "energy": ("J", "mJ"), "power": ("uW", "mW")}
# A battery's charge (mAh) is not an energy until it is multiplied by a voltage.
_CHARGE_UNITS: dict[str, Decimal] = {"mAh": Decimal("0.001"), "Ah": Decimal(1)}
# Spellings people reach for that we do not accept, and what to write instead.
_ALIASES: dict[str, str] = {
    "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "msec": "ms", "msecs": "ms", "millisecond": "ms", "milliseconds": "ms",
    "usec": "us", "usecs": "us", "microsecond": "us", "microseconds": "us",
    "nsec": "ns", "nsecs": "ns", "nanosecond": "ns", "nanoseconds": "ns",
    "m": "min", "mins": "min", "minute": "min", "minutes": "min",
    "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "b": "B", "byte": "B", "bytes": "B", "kib": "KiB", "mib": "MiB", "gib": "GiB",
    "bits": "bit", "mbit": "Mbit", "gbit": "Gbit",
}  # fmt: skip
_QUANTITY = re.compile(
    r"(?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE](?P<exp>[+-]?[0-9]+))?\s*(?P<unit>[A-Za-zµμ/]*)"
)


class UnitError(ValueError, BadInput):
    """A quantity could not be read.

    ``reason`` completes a sentence whose subject is the field ("'latency' <reason>"), so the
    scenario loader can name the field; ``hint`` says how to fix it.
    """

    def __init__(self, what: str, reason: str, hint: str | None = None) -> None:
        self.what = what
        self.reason = reason
        self.hint = hint
        super().__init__(f"{with_article(what)} {reason}" + (f" ({hint})" if hint else ""))


def with_article(what: str) -> str:
    """``what`` with its indefinite article: 'a duration', 'an energy'."""
    return f"an {what}" if what[0] in "aeiou" else f"a {what}"


def unit_list(what: str) -> str:
    """The accepted units of a kind of quantity, for hints: 'duration units: ns, us, ...'."""
    return f"{what} units: {', '.join(_SHOWN[what])}"


def _bare_hint(what: str, number: str) -> str:
    first, second = _LIKELY[what]
    example = f"e.g. '{number}{first}' or '{number}{second}'"
    return f"write the unit after the number, {example}; {unit_list(what)}"


def _unit_hint(what: str, unit: str) -> str:
    units = _KINDS[what][0]
    guess = _ALIASES.get(unit) or _ALIASES.get(unit.lower())
    if guess is None or guess not in units:
        folded = {name.lower(): name for name in units}
        guess = folded.get(unit.lower())
    if guess is None:
        close = difflib.get_close_matches(unit, list(units), n=1, cutoff=0.6)
        guess = close[0] if close else None
    listing = unit_list(what)
    return listing if guess is None else f"did you mean '{guess}'? {listing}"


def _parse(text: object, what: str) -> Fraction:
    """The quantity in its base unit, exactly: decimal text is never rounded through a float,
    so '9007199254740993ns' (2^53 + 1) stays what was written."""
    example = _KINDS[what][1]
    if isinstance(text, str):
        return _parse_text(text, what)
    if isinstance(text, bool) or not isinstance(text, (int, float)):
        raise UnitError(what, f"must be written like {example!r}: found {text!r}")
    if text < 0:
        raise UnitError(what, f"cannot be negative: found {text!r}")
    if text == 0:
        return Fraction(0)
    raise UnitError(
        what, f"needs a unit: found the bare number {text!r}", _bare_hint(what, f"{text:g}")
    )


@functools.lru_cache(maxsize=4096)  # a file of 100,000 links repeats a few dozen values
def _parse_text(text: str, what: str) -> Fraction:
    units, example = _KINDS[what]
    stripped = text.strip()
    if len(stripped) > MAX_QUANTITY_CHARS:
        raise UnitError(what, f"must be written like {example!r}: found {_shown(text)}")
    if stripped.startswith("-"):
        raise UnitError(what, f"cannot be negative: found {text!r}")
    match = _QUANTITY.fullmatch(stripped.lstrip("+"))
    if match is None:
        raise UnitError(what, f"must be written like {example!r}: found {text!r}")
    unit = match["unit"]
    number = Decimal(f"{match['num']}e{match['exp'] or 0}")
    if not unit:
        if number == 0:
            return Fraction(0)
        raise UnitError(what, f"needs a unit: found {text!r}", _bare_hint(what, stripped))
    if unit not in units:
        if what == "energy" and unit in _CHARGE_UNITS:
            watt_hours = number * 3 * _CHARGE_UNITS[unit]
            raise UnitError(
                what,
                f"needs an energy unit, and {unit!r} is one of charge: found {text!r}",
                f"an energy is charge × voltage: {stripped} at 3 V is "
                f"{watt_hours.normalize():f}Wh",
            )
        for other, (other_units, _) in _KINDS.items():
            if other != what and unit in other_units:
                raise UnitError(
                    what,
                    f"needs {with_article(what)} unit, not the {other} unit {unit!r}: "
                    f"found {text!r}",
                    unit_list(what),
                )
        raise UnitError(
            what, f"has an unknown unit {unit!r}: found {text!r}", _unit_hint(what, unit)
        )
    if number == 0 or number.adjusted() < -_TINY_DIGITS:
        return Fraction(0)  # far below a nanosecond, a byte or a bit per second
    if number.adjusted() > _HUGE_DIGITS:
        raise UnitError(what, f"is too large: found {text!r}")
    result = Fraction(number) * units[unit]
    if result > MAX_QUANTITY:
        raise UnitError(what, f"is too large: found {text!r}")
    return result


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:40]) + "…"


def parse_duration(text: object) -> int:
    """'5ms', '1.5s', '2min' -> integer nanoseconds (never negative: a sign is not accepted)."""
    return round(_parse(text, "duration"))


def parse_size(text: object) -> int:
    """'64B', '250kB', '1MiB' -> bytes."""
    return round(_parse(text, "size"))


def parse_bandwidth(text: object) -> float:
    """'10Mbit', '250kbit/s' -> bits per second."""
    return float(_parse(text, "bandwidth"))


def parse_energy(text: object) -> int:
    """'0.2mJ', '2.4kJ', '0.675Wh' -> whole picojoules (rounded to the nearest)."""
    return round(_parse(text, "energy"))


def parse_power(text: object) -> int:
    """'4.5uW', '14.4mW', '3W' -> whole picowatts (rounded to the nearest)."""
    return round(_parse(text, "power"))


def seconds_text(ns: int) -> str:
    """Nanoseconds as the exact decimal number of seconds (``12.5``, ``0.000000001``)."""
    whole, rest = divmod(ns, NS_PER_S)
    return f"{whole}.{rest:09d}".rstrip("0").rstrip(".")


def format_duration(ns: int) -> str:
    """The shortest exact human spelling of a duration, for messages and reports."""
    for unit in ("h", "min", "s", "ms", "us"):
        size = DURATION_UNITS[unit]
        if ns and ns % size == 0:
            return f"{ns // size}{unit}"
    return f"{ns}ns"
