"""The MQTT payload of every node (xedgesim/services/payload.py)."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from xedgesim.services import payload

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
FINITE = st.floats(allow_nan=False, allow_infinity=False)
VALID = {"id": 1, "value": 2.5, "vmin": 1.0, "vmax": 4.0, "n": 3, "origin_ns": 10}


def bits(number: float) -> bytes:
    return struct.pack("<d", number)


def test_the_format_is_compact_json_in_a_fixed_key_order() -> None:
    data = payload.encode(id=7, value=21.5, vmin=20.0, vmax=23.0, n=4, origin_ns=1_700 * 10**15)

    assert data == (
        b'{"id":7,"value":21.5,"vmin":20.0,"vmax":23.0,"n":4,"origin_ns":1700000000000000000}'
    )


def test_a_reading_is_a_message_of_one() -> None:
    message = payload.decode(payload.encode_reading(id=3, value=-1.25, origin_ns=99))

    assert message == {"id": 3, "value": -1.25, "vmin": -1.25, "vmax": -1.25, "n": 1,
                       "origin_ns": 99}


@given(identity=INT64, origin=INT64, n=st.integers(1, 2**63 - 1),
       values=st.lists(FINITE, min_size=3, max_size=3))
def test_every_finite_float_and_int64_round_trips_exactly(
    identity: int, origin: int, n: int, values: list[float]
) -> None:
    vmin, value, vmax = sorted(values)
    message = payload.decode(
        payload.encode(id=identity, value=value, vmin=vmin, vmax=vmax, n=n, origin_ns=origin)
    )

    assert (message["id"], message["n"], message["origin_ns"]) == (identity, n, origin)
    decoded = (message["vmin"], message["value"], message["vmax"])
    assert [bits(v) for v in decoded] == [bits(v) for v in (vmin, value, vmax)]


def test_numbers_from_numpy_and_integral_floats_are_accepted() -> None:
    data = payload.encode(id=np.int64(5), value=np.float32(0.5), vmin=0, vmax=np.float64(1.0),
                          n=np.int32(2), origin_ns=np.uint32(7))
    message = payload.decode(data)

    assert message == {"id": 5, "value": 0.5, "vmin": 0.0, "vmax": 1.0, "n": 2, "origin_ns": 7}
    assert all(type(message[k]) is float for k in ("value", "vmin", "vmax"))
    assert all(type(message[k]) is int for k in ("id", "n", "origin_ns"))


def test_unknown_keys_are_ignored_so_senders_can_grow_the_format() -> None:
    data = json.dumps({**VALID, "unit": "C", "battery": 0.9})

    assert payload.decode(data) == VALID
    assert payload.decode(data.encode()) == VALID


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"21.5", "expected a JSON object, found float"),
        (b"[1, 2]", "expected a JSON object, found list"),
        (json.dumps({"id": 1, "value": 2.0}), "missing vmin, vmax, n, origin_ns"),
        (json.dumps({**VALID, "id": True}), "id must be an integer"),
        (json.dumps({**VALID, "id": 1.0}), "id must be an integer"),
        (json.dumps({**VALID, "n": "3"}), "n must be an integer"),
        (json.dumps({**VALID, "n": 0}), "n must be at least 1"),
        (json.dumps({**VALID, "origin_ns": 2**63}), "origin_ns is out of the 64-bit range"),
        (json.dumps({**VALID, "value": "hot"}), "value must be a number"),
        (json.dumps({**VALID, "value": None}), "value must be a number"),
        (json.dumps({**VALID, "value": False}), "value must be a number"),
        (json.dumps({**VALID, "value": float("nan")}), "NaN is not a finite number"),
        (json.dumps({**VALID, "vmax": float("inf")}), "Infinity is not a finite number"),
        (json.dumps(VALID).replace("4.0", "1e400"), "vmax must be finite"),
        (json.dumps({**VALID, "vmax": 10**400}), "vmax must be finite"),
        (json.dumps({**VALID, "vmin": 5.0}), "vmin 5.0 is above vmax 4.0"),
        (b"[" * 200_000, "nested too deeply"),
        (b'{"id":' + b"[" * 200_000, "nested too deeply"),
        (json.dumps({**VALID, "id": list(range(10**5))}), r"id must be an integer, found \[0, 1"),
    ],
)
def test_invalid_payloads_are_refused_with_the_reason(data: bytes | str, reason: str) -> None:
    with pytest.raises(payload.PayloadError, match=reason.replace("(", r"\(")) as caught:
        payload.decode(data)
    assert isinstance(caught.value, ValueError)  # callers may catch the broader error
    assert len(str(caught.value)) < 500  # a publisher's junk is not echoed whole


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_never_sent(bad: float) -> None:
    with pytest.raises(payload.PayloadError, match="must be finite"):
        payload.encode_reading(id=1, value=bad, origin_ns=0)
