"""Step ``parity``: the stage's fleet run judged against the simulation of the same scenario.

Runs after ``workload`` (only with ``--scenario``): ``xedge simulate`` of the scenario over
``parity_seeds`` seeds (the scenario's own seed and the next ones; a sweep, so the simulation
side is a distribution and the fleet run must lie in its 99 % prediction interval), then
``xedge compare SIMULATION FLEET_RUN`` with the stage's ``--tolerance`` file. Why a sweep and
not one seed: a fleet run is one draw of a statistical process, and a single simulated seed
says little about a tail (docs/parity.md, "A sweep against one run").

The simulation runs the scenario as written, except that its broker and gateway containers
run the release being staged (this machine's architecture's images, when the release has
them): the verdict is about these images. Everything lands in ``<run>/parity/``:
``simulation/`` (the sweep, seeds one after another: parallel paced runs on a small machine
lose their pace), ``compare.json``, ``junit.xml``; the comparison's testsuite is
also added to the verify step's JUnit report, so the stage's one report carries both. The
step leaves a ``manifest.ParityRecord`` in the state (``results["parity"]["records"]``; its
paths into the run relative to the run directory, the scenario and tolerance file as the user
named them), which the manifest records; a breach fails the step and the stage, naming each
metric.
"""

from __future__ import annotations

import platform
import shutil
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import replace
from pathlib import Path
from typing import Any

from xedgesim import atomic
from xedgesim.deploy import manifest
from xedgesim.deploy.release import Release
from xedgesim.deploy.steps import StageContext, StepOutcome
from xedgesim.errors import NodeFailure, XedgeError

NAME = "parity"
DEFAULT_SEEDS = 3
MAX_SEEDS = 20  # each seed of a docker scenario is a paced run of the scenario's duration
DIR_NAME = "parity"
SUITE_NAME = "parity"  # the compare testsuite's name inside the verify step's JUnit report
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def execute(ctx: StageContext) -> StepOutcome:
    if not ctx.state.scenario:
        return StepOutcome(True, "no scenario (--scenario): nothing to compare", skipped=True)
    fleet_run = ctx.run_dir / str((ctx.state.results.get("workload") or {}).get("run")
                                  or "fleet-run")
    if not ctx.state.ran("workload") or not (fleet_run / "summary.json").is_file():
        return StepOutcome(False, "no fleet run to compare: the workload step has not passed "
                                  "(run it first: --step workload)")
    scenario_path = Path(ctx.state.scenario)
    tolerance = Path(ctx.state.tolerance) if ctx.state.tolerance else None
    out = ctx.run_dir / DIR_NAME
    try:
        return judge(ctx, scenario_path, fleet_run, out, tolerance)
    except XedgeError as error:
        return StepOutcome(False, f"parity could not be judged: {error}")


def judge(ctx: StageContext, scenario_path: Path, fleet_run: Path, out: Path,
          tolerance: Path | None) -> StepOutcome:
    """Simulate, compare, record; the outcome names every breached metric."""
    from xedgesim.compare.command import run_compare
    from xedgesim.compare.report import junit_suite
    from xedgesim.compare.verdicts import BREACH, PASS, SKIPPED
    from xedgesim.scenario import load_scenario
    from xedgesim.sweep import sweep

    seeds_count = max(2, min(int(ctx.state.parity_seeds or DEFAULT_SEEDS), MAX_SEEDS))
    scenario = with_release_images(load_scenario(scenario_path), ctx.release())
    seeds = [scenario.seed + offset for offset in range(seeds_count)]
    if out.exists():  # an earlier parity step of this run: judged again from scratch
        shutil.rmtree(out)
    out.mkdir(parents=True)
    simulation = out / "simulation"
    ctx.say(f"  simulating {scenario.name} ({scenario_path}) over seeds "
            f"{seeds[0]}..{seeds[-1]} -> {simulation}")
    started = time.monotonic()
    try:
        swept = sweep(scenario, seeds, simulation, jobs=1)
    except NodeFailure as error:  # a container world on a busy machine: a second chance
        ctx.say(f"  the simulation failed ({error}); once more")
        shutil.rmtree(simulation, ignore_errors=True)
        swept = sweep(scenario, seeds, simulation, jobs=1)
    simulated_s = time.monotonic() - started
    if not swept["valid"]:
        return StepOutcome(False, f"the simulation could not keep pace (seeds "
                                  f"{swept.get('invalid_seeds') or '?'}): no verdict; "
                                  f"results in {simulation}")
    report, junit = out / "compare.json", out / "junit.xml"
    comparison, notes = run_compare(simulation, fleet_run, tolerance=tolerance,
                                    junit=junit, json_path=report)
    for note in notes:
        ctx.say(f"  {note}")
    verify_junit = add_to_junit(ctx.run_dir, junit_suite(comparison))
    written = ctx.state.as_written
    record = manifest.parity_record(
        as_written(scenario_path, written.get("scenario")), fleet_run, report,
        tolerance=as_written(tolerance, written.get("tolerance")) if tolerance else None,
        simulation_run=simulation, run_dir=ctx.run_dir)
    breaches = [v for v in comparison.verdicts if v.verdict == BREACH]
    counts = {"pass": comparison.count(PASS), "breach": len(breaches),
              "skipped": comparison.count(SKIPPED)}
    details: dict[str, Any] = {
        "verdict": record.verdict, "counts": counts, "seeds": seeds,
        "simulation": str(simulation.relative_to(ctx.run_dir)),
        "report": str(report.relative_to(ctx.run_dir)),
        "junit": str(junit.relative_to(ctx.run_dir)),
        "verify_junit": verify_junit, "tolerance": str(tolerance) if tolerance else None,
        "breaches": [v.metric for v in breaches], "simulation_seconds": round(simulated_s, 3),
        "records": [record.as_dict()],
    }
    ctx.state.results[NAME] = details
    text = (f"{len(comparison.verdicts)} metrics: {counts['pass']} pass, {counts['breach']} "
            f"breach, {counts['skipped']} skipped against {len(seeds)} simulated seeds "
            f"({'the fleet behaved as simulated' if comparison.passed else 'PARITY BREACHED'})"
            f"; report {report}")
    text += "".join(f"\n  BREACH {v.metric}: {v.reason}" for v in breaches)
    return StepOutcome(comparison.passed, text, details)


def as_written(path: Path, written: str | None) -> Path:
    """``path`` as the user wrote it on the command line when that still names the same file
    from here, for the manifest's record (a relative path keeps this machine's home out of
    it); else the absolute path the state keeps (a later ``--step`` from another directory)."""
    if written is not None and Path(written).resolve() == path.resolve():
        return Path(written)
    return path


def with_release_images(scenario: Any, release: Release) -> Any:
    """The scenario with its broker and gateway containers running the release's images for
    this machine's architecture, by image id (the images being staged, even when their tags
    were rebuilt since); as written when the release has none for it (an arm64 release staged
    under qemu: the scenario's own images stand in)."""
    arch = _ARCH.get(platform.machine().lower())
    ids = release.ids().get(arch or "", {})
    nodes = []
    for node in scenario.nodes:
        service = str(getattr(node.type, "value", node.type))
        if node.implementation == "docker" and service in ids:
            node = replace(node, image=release.image(arch or "", service).id)
        nodes.append(node)
    return replace(scenario, nodes=tuple(nodes))


def add_to_junit(run_dir: Path, suite: ElementTree.Element) -> str | None:
    """Put the comparison's testsuite into the verify step's JUnit report (replacing an
    earlier parity suite), so the stage's report lists every metric beside the checks;
    returns that report's path relative to the run, or None when verify wrote none."""
    path = run_dir / "verify" / "junit.xml"
    if not path.is_file():
        return None
    root = ElementTree.parse(path).getroot()
    if root.tag != "testsuites":
        wrapper = ElementTree.Element("testsuites")
        wrapper.append(root)
        root = wrapper
    for old in [s for s in root.findall("testsuite") if s.get("name") == SUITE_NAME]:
        root.remove(old)
    suite.set("name", SUITE_NAME)
    root.append(suite)
    for total in ("tests", "failures", "errors", "skipped"):
        if root.get(total) is not None:
            root.set(total, str(sum(int(s.get(total) or 0) for s in root.findall("testsuite"))))
    atomic.write_bytes(path, ElementTree.tostring(root, encoding="utf-8", xml_declaration=True))
    return str(path.relative_to(run_dir))
