"""A comparison as people and tools read it: a table, JUnit XML, a JSON report.

The JUnit report has one testcase per metric (``classname`` the flow or cloud, ``name`` the
metric), so a CI server lists every breach by name; the JSON report carries the same verdicts
with the numbers behind them, for the release manifest. Files are written whole or not at all.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from xedgesim import atomic
from xedgesim.compare.runs import CompareInputError
from xedgesim.compare.verdicts import BREACH, PASS, SKIPPED, Comparison, Verdict

_SHOWN = {PASS: "pass", BREACH: "BREACH", SKIPPED: "skipped"}
_DIGITS = {"count": 0, "ratio": 6, "rate": 3, "quantile": 3}


def format_table(comparison: Comparison) -> str:
    """What the terminal shows: the two runs, one row per metric, the breaches explained."""
    lines = [f"A: {comparison.a.describe()}", f"B: {comparison.b.describe()}"]
    if comparison.window_s is not None:
        lines.append(f"window: {comparison.window_s:g}s (from {comparison.window_source})")
    if comparison.tolerances is not None:
        lines.append(f"tolerances: {comparison.tolerances.file}, then the defaults")
    lines.append("")
    header = ("metric", "A", "B", "B-A", "allowed", "verdict")
    rows = [header] + [(v.metric, _number(v.a, v.kind), _number(v.b, v.kind),
                        _number(v.difference, v.kind, signed=True),
                        "" if v.allowed is None else "±" + _number(v.allowed, v.kind),
                        _SHOWN[v.verdict]) for v in comparison.verdicts]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for number, row in enumerate(rows):
        cells = [cell.ljust(w) if i in (0, 5) else cell.rjust(w)
                 for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    breaches = [v for v in comparison.verdicts if v.verdict == BREACH]
    for verdict in breaches:
        lines.append(f"BREACH {verdict.metric}: {verdict.reason}")
    total = len(comparison.verdicts)
    lines.append(f"{total} metrics: {comparison.count(PASS)} pass, {len(breaches)} breach, "
                 f"{comparison.count(SKIPPED)} skipped; "
                 + ("the runs agree" if comparison.passed else "the runs DIFFER"))
    return "\n".join(lines)


def _number(value: float | None, kind: str, signed: bool = False) -> str:
    if value is None:
        return "-"
    digits = _DIGITS[kind]
    if round(value, digits) == 0:
        return "0"  # not "-0.000000": a difference too small to show is none
    sign = "+" if signed else ""
    return f"{value:{sign},.{digits}f}"


def junit_suite(comparison: Comparison) -> ET.Element:
    """One ``<testsuite>``, so ``stage --scenario`` can put it into its own JUnit report."""
    suite = ET.Element("testsuite", {
        "name": f"xedge compare {comparison.a.path} {comparison.b.path}",
        "tests": str(len(comparison.verdicts)),
        "failures": str(comparison.count(BREACH)),
        "errors": "0",
        "skipped": str(comparison.count(SKIPPED)),
    })
    properties = ET.SubElement(suite, "properties")
    for name, value in (("a", comparison.a.describe()), ("b", comparison.b.describe()),
                        ("window_s", "" if comparison.window_s is None
                         else f"{comparison.window_s:g}"),
                        ("tolerances", _text(comparison.tolerances and
                                             comparison.tolerances.file))):
        ET.SubElement(properties, "property", {"name": name, "value": value})
    for verdict in comparison.verdicts:
        group, _, metric = _split(verdict.metric)
        case = ET.SubElement(suite, "testcase", {"classname": group, "name": metric})
        summary = (f"A={_number(verdict.a, verdict.kind)} B={_number(verdict.b, verdict.kind)} "
                   f"allowed=±{_number(verdict.allowed, verdict.kind)} ({verdict.rule})")
        if verdict.verdict == BREACH:
            failure = ET.SubElement(case, "failure", {"message": verdict.reason,
                                                      "type": "parity"})
            failure.text = summary
        elif verdict.verdict == SKIPPED:
            ET.SubElement(case, "skipped", {"message": verdict.reason})
        else:
            ET.SubElement(case, "system-out").text = summary
    return suite


def _split(metric: str) -> tuple[str, str, str]:
    """'flows.a->b.latency_ms.p50' -> ('flows.a->b', '.', 'latency_ms.p50')."""
    section, _, rest = metric.partition(".")
    subject, dot, name = rest.partition(".")
    return f"{section}.{subject}", dot, name or metric


def _text(value: object) -> str:
    return "" if value is None else str(value)


def junit_xml(comparison: Comparison) -> bytes:
    root = ET.Element("testsuites", {"name": "xedge compare"})
    root.append(junit_suite(comparison))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def json_report(comparison: Comparison) -> dict:
    """The verdicts and the numbers behind them; strict JSON (no NaN)."""
    def side(run) -> dict:
        return {"path": str(run.path), "scenario": run.scenario, "mode": run.mode,
                "seeds": list(run.seeds), "sweep": run.sweep, "duration_s": run.duration_s}

    return {
        "verdict": PASS if comparison.passed else BREACH,
        "a": side(comparison.a),
        "b": side(comparison.b),
        "window_s": comparison.window_s,
        "window_source": comparison.window_source,
        "tolerances": _text(comparison.tolerances and comparison.tolerances.file) or None,
        "counts": {name: comparison.count(name) for name in (PASS, BREACH, SKIPPED)},
        "metrics": [_verdict_json(v) for v in comparison.verdicts],
    }


def _verdict_json(verdict: Verdict) -> dict:
    return {"metric": verdict.metric, "kind": verdict.kind, "a": verdict.a, "b": verdict.b,
            "difference": verdict.difference, "allowed": verdict.allowed,
            "verdict": verdict.verdict, "rule": verdict.rule, "reason": verdict.reason,
            **verdict.detail}


def check_outputs(outputs: dict[str, Path | None], inputs: list[Path]) -> None:
    """Refuse, before anything is compared, an output that would clobber an input or a folder."""
    seen: dict[Path, str] = {}
    read = {path.resolve() for path in inputs}
    for option, path in outputs.items():
        if path is None:
            continue
        resolved = path.resolve()
        if resolved in read:
            raise CompareInputError(f"{option} {path}: that is an input of the comparison")
        if resolved in seen:
            raise CompareInputError(f"{option} {path}: {seen[resolved]} writes there too")
        if path.is_dir():
            raise CompareInputError(f"{option} {path}: is a directory; give a file name")
        seen[resolved] = option


def write_whole(path: Path, data: bytes, option: str) -> None:
    """Write whole or not at all (:mod:`xedgesim.atomic`): never half a report."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(path, data)
    except OSError as error:
        raise CompareInputError(f"{option} {path}: {error.strerror or error}") from None


def json_bytes(comparison: Comparison) -> bytes:
    return (json.dumps(json_report(comparison), indent=2, allow_nan=False) + "\n").encode()
