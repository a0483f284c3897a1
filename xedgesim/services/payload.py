"""The MQTT payload every xedgesim node speaks: sensors, gateways, the cloud and the bridge.

One JSON object, the same for a single reading and for an aggregate of many, so a gateway can
consume another gateway's output and a subscriber never has to guess which it got::

    {"id": 7, "value": 21.5, "vmin": 21.5, "vmax": 21.5, "n": 1, "origin_ns": 1700000000000000000}

* ``id`` — the sender's sequence number of this message (with the topic it names the message);
* ``value`` — the reading, or the mean of the readings behind an aggregate;
* ``vmin``/``vmax`` — the smallest and largest reading behind it (both ``value`` for a reading);
* ``n`` — how many readings are behind it (1 for a reading);
* ``origin_ns`` — when the (oldest) reading was measured, in ns: the basis of end-to-end latency.

JSON is chosen over a packed binary form because every tool on a device (mosquitto_sub, a
shell, a dashboard) can read it. Python writes floats with ``repr``, the shortest text that
reads back to the same bits, so values round-trip exactly. Non-finite floats are refused both
ways: JSON has no spelling for them, and other consumers would choke on Python's ``NaN``.
Unknown keys are ignored on decode, so a newer sender can add fields without breaking older
receivers. This module imports only the standard library: it runs inside the images too.
"""

from __future__ import annotations

import json
import math
import numbers
import operator
import reprlib
from typing import TypedDict

_INT64 = 2**63  # integers must fit numpy's int64 columns on the receiving side


class Message(TypedDict):
    """A decoded payload: a reading (``n == 1``) or an aggregate."""

    id: int
    value: float
    vmin: float
    vmax: float
    n: int
    origin_ns: int


class PayloadError(ValueError):
    """A payload that is not a valid xedgesim message; the text says what is wrong."""


_KEYS = ("id", "value", "vmin", "vmax", "n", "origin_ns")


def encode(*, id: int, value: float, vmin: float, vmax: float, n: int, origin_ns: int) -> bytes:
    """The payload bytes of one message; raises PayloadError for values a receiver would refuse."""
    fields = {"id": id, "value": value, "vmin": vmin, "vmax": vmax, "n": n, "origin_ns": origin_ns}
    return json.dumps(_checked(fields), separators=(",", ":"), allow_nan=False).encode()


def encode_reading(*, id: int, value: float, origin_ns: int) -> bytes:
    """A single reading: ``n`` is 1 and ``vmin`` = ``vmax`` = ``value``."""
    return encode(id=id, value=value, vmin=value, vmax=value, n=1, origin_ns=origin_ns)


def decode(data: bytes | bytearray | str) -> Message:
    """The message in ``data``; raises PayloadError (a ValueError) saying what is wrong.

    Whatever a publisher sends, nothing else escapes: JSON nested past Python's recursion
    limit is a PayloadError too, not a RecursionError that would end the receiver.
    """
    try:
        obj = json.loads(data, parse_constant=_refuse_constant)
    except PayloadError:
        raise
    except (ValueError, TypeError) as error:  # JSONDecodeError and UnicodeDecodeError
        raise PayloadError(f"not JSON: {error}") from None
    except RecursionError:
        raise PayloadError("not JSON this receiver can read: nested too deeply") from None
    if not isinstance(obj, dict):
        raise PayloadError(f"expected a JSON object, found {type(obj).__name__}")
    if missing := [key for key in _KEYS if key not in obj]:
        raise PayloadError(f"missing {', '.join(missing)}")
    return _checked(obj)


_BRIEF = reprlib.Repr()
_BRIEF.maxlevel, _BRIEF.maxstring, _BRIEF.maxother = 3, 80, 80


def brief(value: object) -> str:
    """A peer's value for an error message: short, and safe however deeply it is nested."""
    return _BRIEF.repr(value)


def _refuse_constant(name: str) -> float:
    raise PayloadError(f"{name} is not a finite number")


def _integer(fields: dict[str, object], key: str) -> int:
    found = fields[key]
    try:
        if isinstance(found, bool):
            raise TypeError
        number = operator.index(found)  # int, or numpy's integers on the sending side
    except TypeError:
        raise PayloadError(f"{key} must be an integer, found {brief(found)}") from None
    if not -_INT64 <= number < _INT64:
        raise PayloadError(f"{key} is out of the 64-bit range: {number}")
    return number


def _real(fields: dict[str, object], key: str) -> float:
    number = fields[key]
    if isinstance(number, bool) or not isinstance(number, numbers.Real):
        raise PayloadError(f"{key} must be a number, found {brief(number)}")
    try:
        real = float(number)
    except OverflowError:
        real = math.inf
    if not math.isfinite(real):
        raise PayloadError(f"{key} must be finite, found {number!r}")
    return real


def _checked(fields: dict[str, object]) -> Message:
    """The message in ``fields`` (floats as float), or PayloadError naming the first bad field."""
    message = Message(
        id=_integer(fields, "id"),
        value=_real(fields, "value"),
        vmin=_real(fields, "vmin"),
        vmax=_real(fields, "vmax"),
        n=_integer(fields, "n"),
        origin_ns=_integer(fields, "origin_ns"),
    )
    if message["n"] < 1:
        raise PayloadError(f"n must be at least 1, found {message['n']}")
    if message["vmin"] > message["vmax"]:
        raise PayloadError(f"vmin {message['vmin']!r} is above vmax {message['vmax']!r}")
    return message
