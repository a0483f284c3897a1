"""How far two runs may differ, metric by metric: the default rule of each kind, and a YAML
tolerance file that overrides them by glob patterns over metric names.

The defaults, and why (docs/parity.md has the long form):

* ``count`` (messages delivered, aggregates at the cloud): +/- what the flow carries in one
  aggregation window, at least 1. Two runs cut the same stream at different moments (start-up,
  the last unflushed window, a crash landing just before or after a window closes), and one
  window is the largest piece such a cut can move.
* ``rate`` (throughput): the same window's worth, divided by the run's duration.
* ``ratio`` (delivery ratio, loss ratio per cause): a pooled two-proportion z test at 99 %;
  the difference allowed shrinks as more messages were sent, as a binomial's does.
* ``quantile`` (latency p50/p95/p99): the larger of 10 % of the larger value and 2 ms, so that
  neither a clock's granularity nor a millisecond of scheduling noise fails a run.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

from xedgesim.compare.runs import CompareInputError, read_bounded
from xedgesim.scenario.errors import Problem
from xedgesim.scenario.reader import Reader
from xedgesim.scenario.yaml_tree import YNode, YScalar, parse_yaml

DEFAULT_CONFIDENCE = 0.99
QUANTILE_RELATIVE = 0.10
QUANTILE_FLOOR_MS = 2.0
MAX_TOLERANCE_BYTES = 1024 * 1024
MAX_PATTERNS = 10_000
MAX_PATTERN_CHARS = 200
_SETTINGS = ("absolute", "relative", "confidence", "ignore")


@dataclass(frozen=True)
class Rule:
    """An override: ``max(absolute, relative * larger value)`` replaces the kind's default when
    either is given; ``confidence`` sets the ratio test's and the prediction interval's level."""

    pattern: str = "*"
    absolute: float | None = None
    relative: float | None = None
    confidence: float = DEFAULT_CONFIDENCE
    ignore: bool = False
    where: str | None = None  # file:line:col of the pattern; None for the defaults

    @property
    def replaces_default(self) -> bool:
        return self.absolute is not None or self.relative is not None

    def allowed(self, a: float, b: float) -> float:
        larger = max(abs(a), abs(b))
        return max(self.absolute or 0.0, (self.relative or 0.0) * larger)

    def describe(self) -> str:
        parts = []
        if self.absolute is not None:
            parts.append(f"{self.absolute:g}")
        if self.relative is not None:
            parts.append(f"{self.relative * 100:g}%")
        text = parts[0] if len(parts) == 1 else f"larger of {' and '.join(parts)}"
        return f"{text} ({self.where})"


DEFAULT_RULE = Rule()


@dataclass
class Tolerances:
    """The rules of a tolerance file in file order; the first whose pattern matches decides."""

    rules: list[Rule] = field(default_factory=list)
    file: Path | None = None
    used: set[int] = field(default_factory=set)

    def rule_for(self, metric: str) -> Rule:
        for index, rule in enumerate(self.rules):
            if fnmatch.fnmatchcase(metric, rule.pattern):
                self.used.add(index)
                return rule
        return DEFAULT_RULE

    def unused(self) -> list[Rule]:
        """Patterns that matched no metric: most often a typo, worth a note."""
        return [rule for index, rule in enumerate(self.rules) if index not in self.used]


def load_tolerances(path: Path) -> Tolerances:
    """Read a tolerance file; every problem is reported at once, each with file:line:col."""
    filename = str(path)
    data = read_bounded(path, "tolerance file", MAX_TOLERANCE_BYTES)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise CompareInputError(f"{filename}:{line}: the tolerance file is not UTF-8 text") \
            from None
    return parse_tolerances(text, filename)


def parse_tolerances(text: str, filename: str) -> Tolerances:
    root, problems = parse_yaml(text, filename)
    reader = Reader()
    reader.problems.extend(problems)
    rules: list[Rule] = []
    if root is None and not problems:
        raise CompareInputError(f"{filename}: the tolerance file is empty (see docs/parity.md)")
    top = reader.mapping(root, "a tolerance file", "metrics: {...}") if root else None
    if top is not None:
        reader.check_keys(top, ("metrics",), "a tolerance file")
        metrics = reader.require(top, "metrics", "a tolerance file")
        patterns = reader.mapping(metrics, "'metrics'", '"flows.*.delivered": {absolute: 2}') \
            if metrics is not None else None
        if patterns is not None and len(patterns.entries) > MAX_PATTERNS:
            reader.report(patterns, f"more than {MAX_PATTERNS:,} patterns")
        elif patterns is not None:
            rules = [rule for entry in patterns
                     if (rule := _read_rule(reader, entry.key, entry.value)) is not None]
    if reader.problems:
        ordered = sorted(reader.problems, key=Problem.sort_key)
        raise CompareInputError("\n".join(str(problem) for problem in ordered))
    return Tolerances(rules, Path(filename))


def _read_rule(reader: Reader, key: YScalar, node: YNode) -> Rule | None:
    pattern = key.value
    if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN_CHARS \
            or not pattern.isprintable():
        reader.report(key, f"a pattern must be a metric name or glob of at most "
                      f"{MAX_PATTERN_CHARS} printable characters, found {key.text[:60]!r}",
                      "quote it: \"flows.*.latency_ms.p99\"")
        return None
    what = f"the rule for {pattern!r}"
    settings = reader.mapping(node, what, "{relative: 0.2, absolute: 5}")
    if settings is None:
        return None
    reader.check_keys(settings, _SETTINGS, what)
    if not settings.entries:
        reader.report(settings, f"{what} sets nothing",
                      "give absolute, relative, confidence or ignore")
        return None
    absolute = _setting(reader, settings, "absolute", what, lambda n, w: reader.number(n, w, 0))
    relative = _setting(reader, settings, "relative", what, lambda n, w: _relative(reader, n, w))
    confidence = _setting(reader, settings, "confidence", what,
                          lambda n, w: _confidence(reader, n, w))
    ignore = _setting(reader, settings, "ignore", what, reader.boolean)
    if _FAILED in (absolute, relative, confidence, ignore):
        return None
    return Rule(pattern=pattern, absolute=absolute, relative=relative,
                confidence=DEFAULT_CONFIDENCE if confidence is None else confidence,
                ignore=bool(ignore), where=str(key.location))


_FAILED = object()


def _setting(reader: Reader, settings, name: str, what: str, read):
    """The setting's value, None when it is absent, ``_FAILED`` once it has been reported."""
    node = settings.get(name)
    if node is None:
        return None
    value = read(node, f"'{name}' in {what}")
    return _FAILED if value is None else value


def _relative(reader: Reader, node: YNode, what: str) -> float | None:
    if isinstance(node, YScalar) and isinstance(node.value, str) and node.value.endswith("%"):
        reader.report(node, f"{what} must be a fraction, found {node.text!r}",
                      "write 0.1 for 10 %")
        return None
    return reader.number(node, what, minimum=0)


def _confidence(reader: Reader, node: YNode, what: str) -> float | None:
    value = reader.number(node, what)
    if value is not None and not 0.5 <= value <= 0.999999:
        reader.report(node, f"{what} must be between 0.5 and 0.999999, found {node.text}",
                      "0.99 is 99 %")
        return None
    return value

