"""Typed reading of a position tree that records problems instead of raising.

Every reader returns the value, or ``None`` after recording exactly one problem (or none, when the
value was already reported: ``YInvalid``). Callers treat ``None`` as "skip the checks that depend
on this", which is what keeps one mistake from producing a cascade of messages.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Callable, Collection, Iterable, Mapping

from xedgesim import units
from xedgesim.bounded import Unreadable, read_bounded
from xedgesim.scenario.errors import Problem
from xedgesim.scenario.limits import MAX_TRACE_BYTES
from xedgesim.scenario.model import Location
from xedgesim.scenario.yaml_tree import YInvalid, YMap, YNode, YScalar, YSeq, describe

_PARSERS: dict[str, Callable[[object], float]] = {
    "duration": units.parse_duration,
    "size": units.parse_size,
    "bandwidth": units.parse_bandwidth,
    "energy": units.parse_energy,
    "power": units.parse_power,
}
_MAX_HINT_OPTIONS = 500
_MAX_KNOWN_QUANTITIES = 4096
_MAX_HINT_WORD = 200
_EXAMPLES = {"duration": "5ms", "size": "64B", "bandwidth": "10Mbit", "energy": "0.2mJ",
             "power": "4.5uW"}


def did_you_mean(word: str, options: Collection[str]) -> str | None:
    """A hint naming the closest known spelling, if one is close enough to be a typo.

    Only among a few hundred options: the comparison costs a fraction of a millisecond per
    option, and a file naming unknown nodes 100,000 times among 100,000 must stay fast.
    """
    if len(options) > _MAX_HINT_OPTIONS or len(word) > _MAX_HINT_WORD:
        return None
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def label(key: str, context: str) -> str:
    """How a field is named in messages: ``'latency' in the default link``."""
    return f"'{key}' in {context}"


def english_list(words: Iterable[str], conjunction: str = "and") -> str:
    items = list(words)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


class Reader:
    """Collects problems and notices while the loader walks the tree."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.notices: list[str] = []
        # kind -> text -> quantity: a file of 100,000 links writes a few dozen latencies.
        self._quantities: dict[str, dict[str, float]] = {kind: {} for kind in _PARSERS}
        # What other files (link traces) gave, by path: a file many links name is read once.
        self.files: dict[str, object] = {}

    def report(self, where: YNode | Location | None, message: str, hint: str | None = None) -> None:
        location = where.location if isinstance(where, YNode) else where
        self.problems.append(Problem(location, message, hint))

    def notice(self, where: YNode | Location | None, message: str) -> None:
        """A remark that does not stop loading; prefixed by its line (tools add the file)."""
        location = where.location if isinstance(where, YNode) else where
        self.notices.append(message if location is None else f"line {location.line}: {message}")

    # -- shapes ------------------------------------------------------------------------------

    def mapping(self, node: YNode, what: str, example: str = "key: value") -> YMap | None:
        if isinstance(node, YMap):
            return node
        if not isinstance(node, YInvalid):
            self.report(node, f"{what} must be a mapping ({example}), found {describe(node)}")
        return None

    def sequence(self, node: YNode, what: str, example: str = "[a, b]") -> YSeq | None:
        if isinstance(node, YSeq):
            return node
        if not isinstance(node, YInvalid):
            self.report(node, f"{what} must be a list ({example}), found {describe(node)}")
        return None

    def check_keys(
        self,
        ymap: YMap,
        allowed: Collection[str],
        context: str,
        elsewhere: Mapping[str, str] | None = None,
    ) -> None:
        """Report keys that are not ``allowed``; ``elsewhere`` gives a better message for some."""
        for entry in ymap:
            key = entry.key.value
            if key in allowed:
                continue
            if not isinstance(key, str):
                self.report(entry.key, f"unknown key {entry.key.text!r} in {context}")
            elif elsewhere is not None and key in elsewhere:
                self.report(entry.key, elsewhere[key])
            else:
                self.report(
                    entry.key, f"unknown key '{key}' in {context}", did_you_mean(key, allowed)
                )

    def require(self, ymap: YMap, key: str, context: str) -> YNode | None:
        node = ymap.get(key)
        if node is None:
            self.report(ymap, f"missing required key '{key}' in {context}")
        return node

    # -- scalars -----------------------------------------------------------------------------

    def _scalar(self, node: YNode) -> YScalar | None:
        return node if isinstance(node, YScalar) else None

    def _wrong(self, node: YNode, message: str, hint: str | None = None) -> None:
        if not isinstance(node, YInvalid):
            self.report(node, message, hint)

    def string(self, node: YNode, what: str, hint: str | None = None) -> str | None:
        scalar = self._scalar(node)
        if scalar is None or not isinstance(scalar.value, str) or not scalar.value:
            found = "an empty text" if scalar is not None and scalar.value == "" else describe(node)
            self._wrong(node, f"{what} must be text, found {found}", hint)
            return None
        return scalar.value

    def trace(self, node: YNode, what: str) -> tuple[str, str] | None:
        """(path, text) of the CSV file ``node`` names, relative to the file it is written in
        (a scenario or an overlay): read whole up to ``MAX_TRACE_BYTES``, UTF-8 (a BOM
        allowed). Its rows are the caller's; what cannot be read is reported at ``node``."""
        written = self.string(node, what, "the path of a CSV file, relative to the file it is "
                                          "written in")
        if written is None:
            return None
        path = os.path.normpath(os.path.join(os.path.dirname(node.location.file), written))
        try:
            data = read_bounded(path, MAX_TRACE_BYTES)
        except Unreadable as error:
            why = {"directory": "it is a directory", "special": "it is not a regular file",
                   "too_large": f"it is larger than {MAX_TRACE_BYTES // 2**20} MiB"}
            self.report(node, f"cannot read the trace '{written}' of {what}: "
                        f"{why.get(error.kind, error.reason)}",
                        "a trace's path is relative to the file it is written in")
            return None
        try:
            return path, data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            self.report(Location(path, 0, 0), f"the trace is not UTF-8 text ({error.reason} at "
                        f"byte {error.start})")
            return None

    def integer(
        self, node: YNode, what: str, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        scalar = self._scalar(node)
        if scalar is None or isinstance(scalar.value, bool) or not isinstance(scalar.value, int):
            self._wrong(node, f"{what} must be a whole number, found {describe(node)}")
            return None
        value = scalar.value
        if minimum is not None and value < minimum:
            self.report(node, f"{what} must be at least {minimum}, found {value}")
            return None
        if maximum is not None and value > maximum:
            self.report(node, f"{what} must be at most {maximum}, found {value}")
            return None
        return value

    def number(
        self, node: YNode, what: str, minimum: float | None = None, maximum: float | None = None
    ) -> float | None:
        scalar = self._scalar(node)
        value = None if scalar is None else scalar.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self._wrong(node, f"{what} must be a number, found {describe(node)}")
            return None
        if not math.isfinite(value):
            self.report(node, f"{what} must be a finite number, found {describe(node)}")
            return None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            if minimum is not None and maximum is not None:
                bounds = f"between {minimum:g} and {maximum:g}"
            elif minimum is not None:
                bounds = f"at least {minimum:g}"
            else:
                bounds = f"at most {maximum:g}"
            self.report(node, f"{what} must be {bounds}, found {describe(node)}")
            return None
        return float(value)

    def probability(self, node: YNode, what: str) -> float | None:
        """A number in [0, 1], or a percentage written as text ('1%')."""
        scalar = self._scalar(node)
        if scalar is not None and isinstance(scalar.value, str) and scalar.value.endswith("%"):
            try:
                percent = float(scalar.value[:-1])
            except ValueError:
                percent = math.nan
            if not 0 <= percent <= 100:
                self.report(node, f"{what} must be between 0% and 100%, found {describe(node)}")
                return None
            return percent / 100
        return self.number(node, what, 0, 1)

    def boolean(self, node: YNode, what: str) -> bool | None:
        scalar = self._scalar(node)
        if scalar is None or not isinstance(scalar.value, bool):
            self._wrong(node, f"{what} must be true or false, found {describe(node)}")
            return None
        return scalar.value

    def choice(self, node: YNode, what: str, options: Collection[str]) -> str | None:
        scalar = self._scalar(node)
        if scalar is not None and isinstance(scalar.value, str) and scalar.value in options:
            return scalar.value
        hint = None
        if scalar is not None and isinstance(scalar.value, str):
            hint = did_you_mean(scalar.value, options)
        self._wrong(
            node,
            f"{what} must be one of {english_list(options, 'or')}, found {describe(node)}",
            hint,
        )
        return None

    # -- quantities with units ---------------------------------------------------------------

    def _quantity(self, node: YNode, what: str, kind: str) -> float | None:
        scalar = self._scalar(node)
        if scalar is None:
            example = _EXAMPLES[kind]
            self._wrong(
                node, f"{what} must be {units.with_article(kind)} such as '{example}', found "
                f"{describe(node)}"
            )
            return None
        text = scalar.value
        known = self._quantities[kind]
        if type(text) is str and text in known:
            return known[text]
        try:
            value = _PARSERS[kind](text)
        except units.UnitError as error:
            self.report(node, f"{what} {error.reason}", error.hint)
            return None
        if type(text) is str and len(known) < _MAX_KNOWN_QUANTITIES:
            known[text] = value
        return value

    def duration(self, node: YNode, what: str, positive: bool = False) -> int | None:
        """Integer nanoseconds; ``positive`` refuses zero (an interval, a scenario length)."""
        value = self._quantity(node, what, "duration")
        if value is not None and positive and value <= 0:
            self.report(node, f"{what} must be greater than zero, found {describe(node)}")
            return None
        return None if value is None else int(value)

    def positive_durations(self, ymap: YMap, keys: Iterable[str], what: str,
                           reported: Collection[str] = ()) -> list[int | None]:
        """Each of ``keys`` of ``ymap`` as a duration > 0 (the means of a model's random
        periods): None for one that is wrong or missing, a missing one reported unless it is
        in ``reported`` (its absence already explained)."""
        found: list[int | None] = []
        for key in keys:
            if key not in ymap and key in reported:
                found.append(None)
                continue
            value = self.require(ymap, key, what)
            found.append(None if value is None
                         else self.duration(value, f"'{key}' of {what}", positive=True))
        return found

    def size(self, node: YNode, what: str, positive: bool = True) -> int | None:
        """Whole bytes; ``positive`` refuses zero (a payload; a distribution's std may be 0)."""
        value = self._quantity(node, what, "size")
        if value is not None and positive and value <= 0:
            self.report(node, f"{what} must be greater than zero, found {describe(node)}")
            return None
        return None if value is None else int(value)

    def energy(self, node: YNode, what: str) -> int | None:
        """Whole picojoules, zero allowed (a cost a node does not have)."""
        value = self._quantity(node, what, "energy")
        return None if value is None else int(value)

    def power(self, node: YNode, what: str) -> int | None:
        """Whole picowatts, zero allowed."""
        value = self._quantity(node, what, "power")
        return None if value is None else int(value)

    def bandwidth(self, node: YNode, what: str) -> float | None:
        """Bits per second; ``unlimited`` gives ``math.inf`` (no serialisation delay)."""
        scalar = self._scalar(node)
        if scalar is not None and scalar.value == "unlimited":
            return math.inf
        value = self._quantity(node, what, "bandwidth")
        if value is not None and value <= 0:
            self.report(
                node,
                f"{what} must be greater than zero, found {describe(node)}",
                "leave it out or write 'unlimited' for no bandwidth limit",
            )
            return None
        return value
