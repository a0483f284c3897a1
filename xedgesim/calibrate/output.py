"""Fitted links -> the overlay YAML ``xedge simulate --network`` reads, and the report.

Each calibrated link is written as ``between: [a, b]`` with ``latency``, ``jitter`` and
``loss`` (``bandwidth`` is not fitted and stays the scenario's); a link without enough
samples for a part keeps the scenario's value for it, by leaving the key out. Durations are
written in nanoseconds spelled as milliseconds (``5.012345ms``): exact, and readable. The fit
behind every value (estimator, sample count, goodness of fit, loss interval) is written as a
comment above its link, so the file explains itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xedgesim.calibrate.estimators import (
    CONSTANT,
    MIN_DELAY_SAMPLES,
    MIN_LOSS_TRIALS,
    NORMAL,
    SHIFTED_EXPONENTIAL,
    UNIFORM,
    DelayChoice,
    LossFit,
)
from xedgesim.calibrate.samples import LinkSamples

NORMAL_FLOOR_SD = 4  # a normal's latency sits this many standard deviations below its mean


@dataclass
class LinkFit:
    """One link's samples and what was fitted to them (``None``: too few, keep the scenario's)."""

    samples: LinkSamples
    delay: DelayChoice | None
    loss: LossFit | None

    @property
    def loss_written(self) -> bool:
        return self.loss is not None and self.loss.trials >= MIN_LOSS_TRIALS

    def values(self) -> dict[str, str]:
        """The overlay's keys for this link, as YAML flow text."""
        out: dict[str, str] = {}
        if self.delay is not None:
            latency, jitter = link_delay(self.delay)
            out["latency"] = duration(latency)
            out["jitter"] = jitter
        if self.loss is not None and self.loss_written:
            out["loss"] = f"{self.loss.p:.6g}"
        return out


def link_delay(choice: DelayChoice) -> tuple[int, str]:
    """(latency in ns, the jitter distribution as YAML) that reproduce the chosen fit.

    The simulator draws ``latency + jitter`` with a normal jitter truncated at zero, so a normal
    fit is written with its latency ``NORMAL_FLOOR_SD`` standard deviations below the mean
    (truncation then touches 3 draws in 100,000) and a uniform one from its low end.
    """
    fit = choice.chosen
    params = fit.params
    if fit.family == SHIFTED_EXPONENTIAL:
        return _ns(params["location"]), f"{{exponential: {duration(_ns(params['scale']))}}}"
    if fit.family == NORMAL:
        latency = _ns(params["mean"] - NORMAL_FLOOR_SD * params["std"])
        mean = duration(_ns(params["mean"]) - latency)
        return latency, f"{{normal: {{mean: {mean}, std: {duration(_ns(params['std']))}}}}}"
    if fit.family == UNIFORM:
        latency = _ns(params["low"])
        return latency, f"{{uniform: [0ns, {duration(_ns(params['high']) - latency)}]}}"
    assert fit.family == CONSTANT
    return _ns(params["value"]), "{constant: 0ns}"


def duration(ns: int) -> str:
    """Whole nanoseconds as milliseconds with up to six decimals: ``5.012345ms``, ``20ms``."""
    whole, part = divmod(ns, 1_000_000)
    return f"{whole}ms" if part == 0 else f"{whole}.{part:06d}".rstrip("0") + "ms"


def _ns(value: float) -> int:
    """A fitted time as whole nanoseconds, never negative (a link cannot deliver early)."""
    return max(0, round(value)) if math.isfinite(value) else 0


def overlay_yaml(fits: list[LinkFit], header: list[str]) -> str:
    """The overlay file: a comment header, then ``network: links:`` one entry per link."""
    lines = [f"# {line}" if line else "#" for line in header]
    entries: list[str] = []
    written = 0
    for fit in fits:
        values = fit.values()
        entries += [f"    # {comment}" for comment in describe_fit(fit)]
        if not values:
            entries.append("    # (nothing fitted: the scenario's values stay)")
            continue
        ends = f"[{_name(fit.samples.a)}, {_name(fit.samples.b)}]"
        body = ", ".join(f"{key}: {value}" for key, value in values.items())
        entries.append(f"    - {{between: {ends}, {body}}}")
        written += 1
    lines += ["network:", "  links:" if written else "  links: []", *entries]
    return "\n".join(lines) + "\n"


def describe_fit(fit: LinkFit) -> list[str]:
    """Comment lines for one link: flows, the delay fit and its test, the loss and interval."""
    s = fit.samples
    flows = ", ".join(share.name for share in s.flows)
    lines = [f"{s.a}–{s.b}: from {flows}"]
    if fit.delay is None:
        lines.append(f"  delay: {len(s.delays_ns)} first-attempt deliveries, fewer than "
                     f"{MIN_DELAY_SAMPLES}: latency and jitter not fitted")
    else:
        chosen = fit.delay.chosen
        lines.append(f"  delay: {chosen.family} {_params(chosen.params)} from n = {chosen.n}; "
                     f"KS D = {chosen.ks_d:.4f}, p = {chosen.ks_p:.3g}")
        others = [c for c in fit.delay.candidates if c is not chosen]
        if others:
            lines.append("  also tried: " + "; ".join(
                f"{c.family} logL {c.log_likelihood - chosen.log_likelihood:+.1f}, "
                f"KS p = {c.ks_p:.3g}" for c in others))
        lines.append(f"  {fit.delay.reason}")
    if fit.loss is None:
        lines.append("  loss: no transmission could be counted: not fitted")
    else:
        loss = fit.loss
        lines.append(f"  loss: {loss.failures} of {loss.trials} attempts = {loss.p:.6g} "
                     f"(95% Wilson interval {loss.low:.6g} to {loss.high:.6g})")
        if not fit.loss_written:
            lines.append(f"  fewer than {MIN_LOSS_TRIALS} attempts: loss not written")
    return lines


def _params(params: dict[str, float]) -> str:
    return "(" + ", ".join(f"{key} {value / 1e6:.6g} ms" for key, value in params.items()) + ")"


def _name(node: str) -> str:
    """A node id as YAML: ids are letters, digits, '_', '.' and '-', safe unquoted unless YAML
    would read them as something else (``true``, ``1.5``)."""
    return node if node[:1].isalpha() and node.lower() not in ("true", "false", "yes", "no",
                                                                 "on", "off", "null") \
        else f'"{node}"'


def report_table(fits: list[LinkFit]) -> str:
    """The terminal report: one row per link with what was fitted and how well it holds."""
    rows = [("link", "n", "latency", "jitter", "KS D", "KS p", "loss", "95% interval")]
    for fit in fits:
        s = fit.samples
        latency = jitter = d = p = "-"
        if fit.delay is not None:
            value, jitter = link_delay(fit.delay)
            latency = duration(value)
            d, p = f"{fit.delay.chosen.ks_d:.4f}", f"{fit.delay.chosen.ks_p:.3g}"
        loss = interval = "-"
        if fit.loss is not None:
            loss = f"{fit.loss.p:.4g}" if fit.loss_written else "-"
            interval = f"{fit.loss.low:.4g}..{fit.loss.high:.4g}"
        rows.append((f"{s.a}–{s.b}", f"{len(s.delays_ns):,}", latency, jitter, d, p, loss,
                     interval))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
