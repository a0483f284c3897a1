"""Two runs -> one verdict per metric: A, B, how far apart they may be, and whether they are.

Every verdict has the same shape, ``|B - A| <= allowed``, whatever produced ``allowed``: the
kind's default rule, a tolerance file's override, or (when one side is a sweep) the sweep's
prediction interval. That keeps the table, the JUnit report and the JSON report one format.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from xedgesim.compare.runs import CompareInputError, Metric, Run
from xedgesim.compare.stats import t_quantile, z_quantile
from xedgesim.compare.tolerances import (
    QUANTILE_FLOOR_MS,
    QUANTILE_RELATIVE,
    Rule,
    Tolerances,
)

PASS, BREACH, SKIPPED = "pass", "breach", "skipped"
# summary.json rounds rates and milliseconds to 0.001: a difference that small is rounding.
_RESOLUTION = {"count": 0.0, "ratio": 0.0, "rate": 0.001, "quantile": 0.001}


@dataclass(frozen=True)
class Verdict:
    metric: str
    kind: str
    a: float | None  # a sweep's mean when that side is a sweep
    b: float | None
    allowed: float | None  # half-width around A
    verdict: str
    rule: str  # how ``allowed`` was found
    reason: str = ""  # why, for a breach or a skip
    detail: dict = field(default_factory=dict)

    @property
    def difference(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


@dataclass(frozen=True)
class Comparison:
    a: Run
    b: Run
    window_s: float | None
    window_source: str
    tolerances: Tolerances | None
    verdicts: list[Verdict]

    @property
    def passed(self) -> bool:
        return all(v.verdict != BREACH for v in self.verdicts)

    def count(self, verdict: str) -> int:
        return sum(v.verdict == verdict for v in self.verdicts)


class _Undecided(Exception):
    """A metric that cannot be held to a rule: skipped (nothing to judge) or a breach."""

    def __init__(self, verdict: str, reason: str) -> None:
        super().__init__(reason)
        self.verdict = verdict
        self.reason = reason


@dataclass(frozen=True)
class _Context:
    window_s: float | None
    duration_a: float
    duration_b: float
    where: str  # names the runs in the "no window" message


def compare(a: Run, b: Run, tolerances: Tolerances | None = None,
            window_s: float | None = None) -> Comparison:
    """Judge every metric either run has; ``window_s`` (``--window``) overrides the runs' own."""
    if a.sweep and b.sweep:
        raise CompareInputError(
            f"{a.path} and {b.path} are both sweeps; compare a sweep with one run (a fleet "
            "run, a docker run, another seed) or two single runs")
    source = "--window"
    if window_s is None:
        recorded = [w for w in (a.window_s, b.window_s) if w is not None]
        window_s = max(recorded) if recorded else None
        source = "the runs' summary.json" if recorded else "none"
    tolerances = tolerances or Tolerances()
    context = _Context(window_s, a.duration_s, b.duration_s, f"{a.path} and {b.path}")
    table_a, table_b = _by_name(a), _by_name(b)
    verdicts = [
        _judge(name, table_a.get(name, []), table_b.get(name, []), a.sweep, b.sweep,
               tolerances.rule_for(name), context)
        for name in dict.fromkeys([*table_a, *table_b])
    ]
    return Comparison(a, b, window_s, source, tolerances if tolerances.file else None, verdicts)


def _by_name(run: Run) -> dict[str, list[Metric]]:
    table: dict[str, list[Metric]] = {}
    for sample in run.samples:
        for name, metric in sample.items():
            table.setdefault(name, []).append(metric)
    return table


def _judge(name: str, in_a: list[Metric], in_b: list[Metric], a_sweep: bool, b_sweep: bool,
           rule: Rule, context: _Context) -> Verdict:
    kind = (in_a or in_b)[0].kind
    if rule.ignore:
        return Verdict(name, kind, None, None, None, SKIPPED, f"ignored ({rule.where})",
                       f"ignored by {rule.where}")
    if not in_a or not in_b:
        side = "A" if in_a else "B"
        return Verdict(name, kind, None, None, None, BREACH, "present in both runs",
                       f"only in {side}")
    if a_sweep or b_sweep:
        return _judge_distribution(name, in_a if a_sweep else in_b, in_b[0] if a_sweep else
                                   in_a[0], a_sweep, rule, context)
    ma, mb = in_a[0], in_b[0]
    try:
        allowed, text = _allowance(ma, mb, rule, context)
    except _Undecided as undecided:
        return Verdict(name, kind, ma.value, mb.value, None, undecided.verdict, "",
                       undecided.reason, _detail(ma, mb))
    return _verdict(name, ma, mb, ma.value, mb.value, allowed, text, _detail(ma, mb))


def _judge_distribution(name: str, samples: list[Metric], single: Metric, sweep_is_a: bool,
                        rule: Rule, context: _Context) -> Verdict:
    """Does the single run lie in the sweep's prediction interval (or the rule's tolerance)?

    The interval is mean +/- t * s * sqrt(1 + 1/n): where the next run of the sweep's world
    would fall. A metric that does not vary across seeds (s = 0) would then demand exact
    equality from another world, so the rule's tolerance around the mean is the floor.
    """
    kind = single.kind
    n = len(samples)
    values = [m.value for m in samples]
    mean = math.fsum(values) / n
    pooled = _pooled(samples, mean)
    ma, mb = (pooled, single) if sweep_is_a else (single, pooled)
    if n < 2:
        return Verdict(name, kind, ma.value, mb.value, None, SKIPPED, "",
                       f"in only {n} of the sweep's runs; a prediction interval needs 2")
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(rule.confidence, n - 1) * std * math.sqrt(1 + 1 / n)
    detail = {"runs": n, "mean": mean, "std": std, "prediction_half_width": half}
    try:
        floor, floor_text = _allowance(ma, mb, rule, context)
    except _Undecided as undecided:
        if undecided.verdict == BREACH:
            return Verdict(name, kind, ma.value, mb.value, None, BREACH, "", undecided.reason,
                           detail)
        floor, floor_text = 0.0, "no rule applies"
    text = (f"{rule.confidence:.4g} prediction interval of {n} runs (±{half:.4g}) or "
            f"{floor_text} (±{floor:.4g}), the wider")
    return _verdict(name, ma, mb, ma.value, mb.value, max(half, floor), text, detail)


def _pooled(samples: list[Metric], mean: float) -> Metric:
    """One metric standing for the sweep, for the rule's floor."""
    first = samples[0]
    if first.kind == "ratio":
        successes = sum(m.successes for m in samples)
        trials = sum(m.trials for m in samples)
        return Metric("ratio", successes / trials if trials else 0.0, successes, trials)
    return Metric(first.kind, mean, trials=min(m.trials for m in samples),
                  quantum=max(m.quantum for m in samples))


def _verdict(name: str, ma: Metric, mb: Metric, a: float, b: float, allowed: float, text: str,
             detail: dict) -> Verdict:
    slack = _RESOLUTION[ma.kind] + 1e-9 * max(1.0, abs(a), abs(b))
    ok = abs(b - a) <= allowed + slack
    reason = "" if ok else f"B - A = {b - a:+.6g} is outside ±{allowed:.6g} ({text})"
    return Verdict(name, ma.kind, a, b, allowed, PASS if ok else BREACH, text, reason, detail)


def _detail(ma: Metric, mb: Metric) -> dict:
    if ma.kind == "ratio":
        return {"a_counts": [ma.successes, ma.trials], "b_counts": [mb.successes, mb.trials]}
    if ma.kind == "quantile":
        return {"a_samples": ma.trials, "b_samples": mb.trials}
    return {}


def _allowance(ma: Metric, mb: Metric, rule: Rule, context: _Context) -> tuple[float, str]:
    """How far apart the two may be, and the rule that says so, in words."""
    if ma.kind == "ratio" and (ma.trials == 0 or mb.trials == 0):
        side = "either run" if ma.trials == mb.trials else ("A" if ma.trials == 0 else "B")
        raise _Undecided(SKIPPED, f"no messages sent in {side}: no ratio to compare")
    if ma.kind == "quantile" and (ma.trials == 0 or mb.trials == 0):
        if ma.trials == mb.trials:
            raise _Undecided(SKIPPED, "no samples in either run")
        raise _Undecided(BREACH, f"no samples in {'A' if ma.trials == 0 else 'B'}")
    if rule.replaces_default:
        return rule.allowed(ma.value, mb.value), rule.describe()
    if ma.kind == "ratio":
        return _ratio_test(ma, mb, rule.confidence)
    if ma.kind == "quantile":
        larger = max(ma.value, mb.value)
        return max(QUANTILE_RELATIVE * larger, QUANTILE_FLOOR_MS), \
            f"larger of {QUANTILE_RELATIVE:.0%} and {QUANTILE_FLOOR_MS:g} ms"
    window = context.window_s
    if window is None:
        raise CompareInputError(
            f"{context.where} record no aggregation window (summary.json has no "
            "'aggregation_windows_s'), and counts are allowed one window's worth: give "
            "--window, the scenario's largest aggregate_every (e.g. --window 10s)")
    if ma.kind == "count":
        per_window = max(ma.value / context.duration_a, mb.value / context.duration_b) * window
        return float(max(1, math.floor(per_window + 0.5))), f"one {window:g}s window"
    per_window = max(max(ma.value, mb.value) * window, max(ma.quantum, mb.quantum))
    return per_window / min(context.duration_a, context.duration_b), \
        f"one {window:g}s window over the run"


def _ratio_test(ma: Metric, mb: Metric, confidence: float) -> tuple[float, str]:
    pooled = (ma.successes + mb.successes) / (ma.trials + mb.trials)
    error = math.sqrt(pooled * (1 - pooled) * (1 / ma.trials + 1 / mb.trials))
    return z_quantile(confidence) * error, f"pooled two-proportion test at {confidence:.4g}"
