from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from xedgesim.compare.report import (
    check_outputs,
    format_table,
    json_bytes,
    junit_xml,
    write_whole,
)
from xedgesim.compare.runs import CompareInputError, read_run
from xedgesim.compare.tolerances import parse_tolerances
from xedgesim.compare.verdicts import Comparison, compare

from .helpers import flow, summary, write_run

RULES = 'metrics:\n  "cloud.*.end_to_end_ms.*": {ignore: true}\n'


def breached(tmp_path: Path) -> Comparison:
    """Two runs whose delivery ratio differs, and three ignored metrics."""
    a = write_run(tmp_path / "a", summary())
    b = write_run(tmp_path / "b", summary({"sensors->gw": flow(6000, 4200),
                                           "gw->cloud": flow(6, latency=(20.0, 22.0, 23.0))}))
    return compare(read_run(a), read_run(b), parse_tolerances(RULES, "t.yaml"), 10.0)


def test_junit_has_one_testcase_per_metric(tmp_path: Path) -> None:
    comparison = breached(tmp_path)
    root = ET.fromstring(junit_xml(comparison))
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == len(comparison.verdicts) == int(suite.get("tests", ""))
    names = [f"{case.get('classname')}.{case.get('name')}" for case in cases]
    assert names == [v.metric for v in comparison.verdicts]
    failed = {f"{c.get('classname')}.{c.get('name')}": c.find("failure") for c in cases
              if c.find("failure") is not None}
    assert int(suite.get("failures", "")) == len(failed) == comparison.count("breach")
    ratio = failed["flows.sensors->gw.delivery_ratio"]
    assert ratio is not None and "outside ±" in ratio.get("message", "")
    assert "A=1.000000 B=0.700000" in (ratio.text or "")
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert len(skipped) == int(suite.get("skipped", "")) == 3
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["window_s"] == "10" and properties["tolerances"] == "t.yaml"


def test_json_report_is_strict_json_with_every_verdict(tmp_path: Path) -> None:
    comparison = breached(tmp_path)
    report = json.loads(json_bytes(comparison), parse_constant=pytest.fail)
    assert report["verdict"] == "breach"
    assert report["counts"] == {"pass": comparison.count("pass"),
                                "breach": comparison.count("breach"), "skipped": 3}
    assert len(report["metrics"]) == len(comparison.verdicts)
    ratio = next(m for m in report["metrics"]
                 if m["metric"] == "flows.sensors->gw.delivery_ratio")
    assert ratio["a"] == 1.0 and ratio["b"] == 0.7 and ratio["verdict"] == "breach"
    assert ratio["b"] - ratio["a"] == pytest.approx(ratio["difference"])
    assert ratio["a_counts"] == [6000, 6000] and ratio["b_counts"] == [4200, 6000]
    assert report["a"]["seeds"] == [1] and report["b"]["sweep"] is False


def test_the_table_names_each_breach_and_ends_with_the_verdict(tmp_path: Path) -> None:
    lines = format_table(breached(tmp_path)).splitlines()
    assert lines[0].startswith("A: ") and lines[2] == "window: 10s (from --window)"
    assert any(line.startswith("BREACH flows.sensors->gw.delivery_ratio: B - A = -0.3 ")
               for line in lines)
    row = next(line for line in lines if line.startswith("flows.sensors->gw.delivered "))
    assert row.split() == ["flows.sensors->gw.delivered", "6,000", "4,200", "-1,800", "±1,000",
                           "BREACH"]
    same = next(line for line in lines if line.startswith("flows.gw->cloud.loss_ratio.random"))
    assert same.split() == ["flows.gw->cloud.loss_ratio.random", "0", "0", "0", "±0", "pass"]
    assert lines[-1].endswith("3 skipped; the runs DIFFER")


def test_outputs_never_overwrite_an_input_a_folder_or_each_other(tmp_path: Path) -> None:
    summary_file = tmp_path / "a" / "summary.json"
    with pytest.raises(CompareInputError, match="that is an input of the comparison"):
        check_outputs({"--json": summary_file}, [summary_file])
    with pytest.raises(CompareInputError, match="--junit writes there too"):
        check_outputs({"--junit": tmp_path / "r", "--json": tmp_path / "r"}, [])
    with pytest.raises(CompareInputError, match="is a directory"):
        check_outputs({"--json": tmp_path}, [])
    check_outputs({"--junit": tmp_path / "x.xml", "--json": None}, [summary_file])


def test_a_report_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    write_whole(tmp_path / "deep" / "r.json", b"{}\n", "--json")
    assert (tmp_path / "deep" / "r.json").read_bytes() == b"{}\n"
    (tmp_path / "file").write_text("x")
    with pytest.raises(CompareInputError, match="--json"):
        write_whole(tmp_path / "file" / "r.json", b"{}", "--json")
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["r.json"]
