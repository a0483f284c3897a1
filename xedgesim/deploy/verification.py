"""Verification: the testinfra suite of ``tests/infra`` and the MQTT smoke test, against any
inventory, with a JUnit XML report under the run directory.

pytest runs in its own process, as a user would run it (``pytest tests/infra
--hosts=ansible://edge --ansible-inventory=…``): the suite stays a plain pytest suite anyone
can run by hand, and its imports and state never leak into the command. The suite opens the
same fleet as the command (``fleet_view``): what it needs beyond the inventory — the overlays,
the release to expect and, for the smoke test, the secrets file — comes as environment
variables naming files (``FleetView.suite_env``), never as secret values.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xedgesim import atomic
from xedgesim.deploy import paths
from xedgesim.deploy.errors import DeployError, Interrupted
from xedgesim.deploy.fleet_view import FleetView, open_fleet
from xedgesim.deploy.release import Release
from xedgesim.deploy.runner import executable_path

# the environment the suite reads besides the fleet's (tests/infra/conftest.py)
ENV_RESTART = "XEDGESIM_SMOKE_RESTART"
ENV_SMOKE_REPORT = "XEDGESIM_SMOKE_REPORT"
RESULT_WORDS = ("PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL", "XPASS")


@dataclass(frozen=True)
class VerifyResult:
    passed: bool
    tests: int
    failures: int
    errors: int
    skipped: int
    junit: Path
    log: Path
    seconds: float
    failed: tuple[str, ...] = ()  # "test id: first line of the failure"
    smoke: tuple[dict[str, Any], ...] = field(default=())

    def summary(self) -> str:
        text = f"{self.tests - self.failures - self.errors - self.skipped} passed"
        if self.failures or self.errors:
            text += f", {self.failures + self.errors} failed"
        if self.skipped:
            text += f", {self.skipped} skipped"
        return text


def write_release_file(path: Path, release_vars: dict[str, Any]) -> Path:
    """The release the suite expects (``xedgesim_release`` without archive paths)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic.write_json(path, Release.from_dict(release_vars).to_dict()).resolve()


def run_suite(fleet: FleetView, out_dir: Path, *, restart_broker: bool = True,
              say: Callable[[str], None] = print,
              extra_args: Sequence[str] = ()) -> VerifyResult:
    """Run ``tests/infra`` against ``fleet``; results in ``out_dir`` (JUnit, log, smoke)."""
    root = paths.project_root()
    out_dir.mkdir(parents=True, exist_ok=True)
    junit = (out_dir / "junit.xml").resolve()
    log = (out_dir / "pytest.log").resolve()
    smoke_report = (out_dir / "smoke.json").resolve()
    smoke_report.unlink(missing_ok=True)
    command = [
        sys.executable, "-m", "pytest", str(paths.infra_tests(root)),
        "--hosts=ansible://edge", f"--ansible-inventory={fleet.inventory.resolve()}",
        f"--junitxml={junit}", "-o", "junit_family=xunit2", "-o", "junit_suite_name=verify",
        "-p", "no:cacheprovider", "-v", "--tb=short", "--color=no", *extra_args,
    ]
    env = {**os.environ, "PATH": executable_path(), ENV_RESTART: "1" if restart_broker else "0",
           ENV_SMOKE_REPORT: str(smoke_report), **fleet.suite_env()}
    config = paths.ansible_config(root)
    if config is not None:
        env.setdefault("ANSIBLE_CONFIG", str(config))
    started = time.monotonic()
    try:
        with open(log, "w") as handle:
            process = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)
            assert process.stdout is not None
            for line in process.stdout:
                handle.write(line)
                if line.rstrip().endswith(RESULT_WORDS) or " PASSED " in line \
                        or " FAILED " in line:
                    say(f"  verify: {short_test_line(line)}")
            process.wait()
    except KeyboardInterrupt:
        process.terminate()
        process.wait()
        raise Interrupted("verify: cancelled; partial results in " + str(out_dir)) from None
    except OSError as error:
        raise DeployError(f"verify: cannot run pytest: {error}") from None
    seconds = time.monotonic() - started
    if not junit.is_file():
        tail = "\n  ".join(log.read_text(errors="replace").splitlines()[-15:])
        raise DeployError(f"verify: pytest wrote no report (exit {process.returncode}):\n  "
                          f"{tail}\n  full log: {log}")
    counts, failed = parse_junit(junit)
    smoke = load_smoke(smoke_report)
    passed = process.returncode == 0 and counts["failures"] == 0 and counts["errors"] == 0 \
        and counts["tests"] > counts["skipped"]
    return VerifyResult(passed, counts["tests"], counts["failures"], counts["errors"],
                        counts["skipped"], junit, log, seconds, tuple(failed), tuple(smoke))


def short_test_line(line: str) -> str:
    """``tests/infra/test_services.py::test_x[ansible://edge-1] PASSED [ 10%]`` ->
    ``test_services.py::test_x[edge-1] PASSED``."""
    text = line.strip()
    if "[" in text and text.endswith("%]"):
        text = text[: text.rfind("[")].rstrip()
    return text.replace("tests/infra/", "").replace("ansible://", "")


def parse_junit(path: Path) -> tuple[dict[str, int], list[str]]:
    """Counts over every test suite, and the failed tests with their first message line."""
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise DeployError(f"verify: unreadable JUnit report {path}: {error}") from None
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {key: sum(int(suite.get(key, 0)) for suite in suites)
              for key in ("tests", "failures", "errors", "skipped")}
    failed = []
    for case in root.iter("testcase"):
        for problem in (*case.findall("failure"), *case.findall("error")):
            message = (problem.get("message") or problem.text or "").strip().splitlines()
            name = case.get("name", "?").replace("ansible://", "")
            failed.append(f"{name}: {message[0] if message else 'failed'}"[:300])
    return counts, failed


def per_host(junit: Path, hosts: Sequence[str]) -> dict[str, dict[str, int]]:
    """passed / failed / skipped per host, from the testinfra ids in the test names
    (``test_x[ansible://edge-1]``, ``test_y[ansible://edge-1-broker]``)."""
    counts = {host: {"passed": 0, "failed": 0, "skipped": 0} for host in hosts}
    by_length = sorted(hosts, key=len, reverse=True)
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "")
        host = next((h for h in by_length if f"ansible://{h}]" in name
                     or f"ansible://{h}-" in name), None)
        if host is None:
            continue
        if case.findall("failure") or case.findall("error"):
            counts[host]["failed"] += 1
        elif case.findall("skipped"):
            counts[host]["skipped"] += 1
        else:
            counts[host]["passed"] += 1
    return counts


def load_smoke(path: Path) -> list[dict[str, Any]]:
    try:
        return list(json.loads(path.read_text()))
    except (OSError, ValueError):
        return []


def verify_inventory(inventory: Path, *, out: Path | None = None, release_id: str | None = None,
                     images: Sequence[str] = (), secrets_file: Path | None = None,
                     store: Path | None = None, restart_broker: bool = True,
                     say: Callable[[str], None] = print) -> tuple[Path, VerifyResult]:
    """``xedge verify``: the suite against any inventory. The release to expect is the one
    ``deploy`` would pick (``--release ID`` from the store, else this machine's images)."""
    from xedgesim.deploy import manifest, release

    fleet = open_fleet(inventory, secrets=secrets_file)
    if release_id:
        expected = manifest.release_of(manifest.find(release_id, store or paths.releases_dir()))
    else:
        from xedgesim.deploy.fleet import connect

        expected = release.resolve_local(connect(), fleet.arches, images)
    run_dir = paths.run_dir(out, "verify")
    say(f"verify {inventory} ({len(fleet.hosts)} host(s)) against release {expected.id} "
        f"· run {run_dir}")
    release_file = write_release_file(run_dir / "release.json", expected.to_dict({}))
    result = run_suite(fleet.with_release(release_file), run_dir,
                       restart_broker=restart_broker, say=say)
    return run_dir, result


def run_scenario(inventory: Path, scenario: Any, run_dir: Path, *,
                 secrets_file: Path | None = None, overlays: Sequence[Path] | None = None,
                 project: Path | None = None, say: Callable[[str], None] = print,
                 extra: dict[str, Any] | None = None) -> Any:
    """The fleet run of ``xedge verify --scenario`` and of stage's ``workload`` step: the
    scenario (already loaded and checked, ``fleetrun.command.load``) driven against every host
    of the inventory, written to ``<run_dir>/fleet-run``. Ctrl-C and SIGTERM stop it at once
    and leave no run directory (``Interrupted``, exit 128 + the signal)."""
    from xedgesim.fleetrun.command import RUN_DIR_NAME, run_on_fleet
    from xedgesim.interrupts import signals_as_interrupt

    fleet = open_fleet(inventory, overlays, secrets=secrets_file, project=project)
    out = run_dir / RUN_DIR_NAME
    try:
        with signals_as_interrupt():
            return run_on_fleet(fleet, scenario, out, say=say, extra=extra)
    except KeyboardInterrupt as error:
        raise Interrupted(f"the fleet run was stopped ({getattr(error, 'args', [''])[0]}); "
                          f"nothing was written to {out}",
                          getattr(error, "signum", 2)) from None
