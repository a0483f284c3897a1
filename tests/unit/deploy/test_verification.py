"""xedgesim/deploy/verification.py: JUnit counts, per-host results, the release file."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from xedgesim.deploy import verification
from xedgesim.deploy.release import ImageRef, Release
from xedgesim.deploy.verification import (
    parse_junit,
    per_host,
    short_test_line,
    write_release_file,
)

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="verify" errors="0" failures="1" skipped="1" tests="4">
<testcase classname="test_services" name="test_runs_the_release_image[ansible://edge-1-broker]"/>
<testcase classname="test_services" name="test_broker_is_healthy[ansible://edge-1]"/>
<testcase classname="test_mqtt" name="test_reading_comes_out_as_an_aggregate[ansible://edge-10]">
  <failure message="AssertionError: no aggregate holding the reading&#10;more">trace</failure>
</testcase>
<testcase classname="test_mqtt" name="test_qos1[ansible://edge-10]"><skipped message="x"/>
</testcase>
</testsuite></testsuites>
"""


def test_counts_and_failures(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    counts, failed = parse_junit(path)
    assert counts == {"tests": 4, "failures": 1, "errors": 0, "skipped": 1}
    assert failed == ["test_reading_comes_out_as_an_aggregate[edge-10]: AssertionError: "
                      "no aggregate holding the reading"]
    assert per_host(path, ["edge-1", "edge-10"]) == {
        "edge-1": {"passed": 2, "failed": 0, "skipped": 0},
        "edge-10": {"passed": 0, "failed": 1, "skipped": 1},
    }


def test_short_test_line() -> None:
    line = "tests/infra/test_mqtt.py::test_x[ansible://edge-1] PASSED        [ 10%]\n"
    assert short_test_line(line) == "test_mqtt.py::test_x[edge-1] PASSED"


def test_release_file_drops_archive_paths(tmp_path: Path) -> None:
    release_id = Release((ImageRef("broker", "amd64", "t", "sha256:1"),)).id
    variables = {"id": release_id, "images": {"amd64": {"broker": {
        "tag": "t", "id": "sha256:1", "archive": "/run/images/b.tar"}}}}
    path = write_release_file(tmp_path / "verify" / "release.json", variables)
    assert json.loads(path.read_text()) == {
        "id": release_id, "images": {"amd64": {"broker": {"tag": "t", "id": "sha256:1"}}}}


@pytest.mark.parametrize("module", ["xedgesim.deploy.verification", "xedgesim.deploy.deploy"])
def test_each_side_of_the_former_circle_imports_alone(module: str) -> None:
    """``deploy`` runs the suite (it imports ``verification``); ``verification`` must not
    reach back into ``deploy``, not even lazily: what both need lives in ``fleet_view``."""
    done = subprocess.run(
        [sys.executable, "-c", f"import sys, {module}; "
         "print('xedgesim.deploy.deploy' in sys.modules)"],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(module == "xedgesim.deploy.deploy")


def test_verification_never_imports_deploy() -> None:
    tree = ast.parse(Path(verification.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {f"{node.module}.{alias.name}" for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) for alias in node.names}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
    assert "xedgesim.deploy.deploy" not in imported
