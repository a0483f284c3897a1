"""``xedge stage``: the staging lifecycle, create -> converge -> idempotence -> verify ->
(with ``--scenario``: workload -> parity ->) destroy.

Each step is printed as it starts and as it ends (with its time and a one-line result). A
failed step stops the sequence; the fleet is still destroyed (unless ``--keep``), also after
Ctrl-C. When converge, idempotence and verify (and, with a scenario, workload and parity) have
all passed, the release manifest is written to the run directory and recorded in the manifest
store, with the parity step's record: the fleet run agreed with the simulation.

The run directory is not written all-or-nothing like a simulation's: the fleet's inventory
and keys must sit at their final paths while the fleet lives, and a failed run's artifacts
are exactly what one debugs with. What must be whole is whole: the state file and the
manifest are replaced atomically, and the manifest exists only for a passing run.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from xedgesim import rundir
from xedgesim.deploy import certificates, manifest, paths, scenario_config, secrets, state
from xedgesim.deploy.errors import DeployError, Interrupted, UsageError
from xedgesim.deploy.state import STEPS, StageState
from xedgesim.deploy.steps import StageContext, StepOutcome

DEFAULT_SEQUENCE = STEPS
PROVING_STEPS = ("converge", "idempotence", "verify")
# Keys of the state's results that are not steps: the rendered scenario (scenario_config's
# plan, no secret). The parity step's results hold the records its comparison leaves for the
# manifest (``results["parity"]["records"]``).
SCENARIO_RESULT = "scenario"
PARITY_RESULT = "parity"
SCENARIO_STEPS = ("workload", "parity")  # run only when the stage has a scenario


@dataclass
class StageOptions:
    hosts: int = 2
    arch: str = "amd64"
    keep: bool = False
    inventory: Path | None = None  # stage onto an existing inventory instead of a local fleet
    secrets: Path | None = None  # secrets file for an existing inventory
    out: Path | None = None
    steps: tuple[str, ...] = ()  # run only these, against the run in ``out``
    scenario: Path | None = None  # renders the services' settings (scenario_config)
    place: tuple[str, ...] = ()  # --place HOST=NODE[,NODE]: the scenario's placement, replaced
    images: tuple[str, ...] = ()  # NAME=REF overrides
    tolerance: Path | None = None  # --tolerance: the parity step's compare tolerance file
    parity_seeds: int = 3  # --parity-seeds: seeds of the simulation the fleet run is judged by
    store: Path = field(default_factory=paths.releases_dir)
    live: bool | None = None


@dataclass
class StageOutcome:
    run_dir: Path
    passed: bool
    steps: dict[str, StepOutcome]
    manifest: Path | None = None
    stored: Path | None = None
    junit: Path | None = None
    table: str = ""


def step_modules() -> dict[str, ModuleType]:
    """Step name -> module, imported only when a stage runs."""
    from xedgesim.deploy.steps import (
        converge,
        create,
        destroy,
        idempotence,
        parity,
        verify,
        workload,
    )

    return {module.NAME: module for module in (create, converge, idempotence, verify, workload,
                                               parity, destroy)}


def stage(options: StageOptions, say: Callable[[str], None] = print) -> StageOutcome:
    """Run the lifecycle (or the chosen steps) and return what happened."""
    project = paths.project_root()
    if options.steps:
        unknown = sorted(set(options.steps) - set(STEPS))
        if unknown:
            raise UsageError(f"unknown step {', '.join(unknown)} (steps: {', '.join(STEPS)})")
        if options.out is None:
            raise UsageError("--step needs --out DIR: the stage run whose fleet to use")
        rundir.require_kind(options.out, "stage")
        run_state = state.load(options.out)
        if options.tolerance is not None:  # --step parity --tolerance F: judge with F now
            from xedgesim.compare.tolerances import load_tolerances

            load_tolerances(options.tolerance)
            run_state.tolerance = str(options.tolerance.resolve())
            run_state.as_written["tolerance"] = str(options.tolerance)
            run_state.save()
        sequence = tuple(step for step in STEPS if step in options.steps)
    else:
        if options.scenario is not None:  # a scenario a fleet cannot run is refused first
            from xedgesim.fleetrun.command import load

            load(options.scenario, None)
        if options.tolerance is not None:  # and so is a bad tolerance file (file:line:col)
            from xedgesim.compare.tolerances import load_tolerances

            load_tolerances(options.tolerance)
        run_state = begin(options, project)
        sequence = tuple(s for s in DEFAULT_SEQUENCE if not (s == "destroy" and options.keep)
                         and not (s in SCENARIO_STEPS and options.scenario is None))
    ctx = StageContext(run_state, project, say=say, live=options.live)
    say(f"stage {run_state.run_dir} · "
        + (f"{run_state.hosts} local host(s), {run_state.arch}" if run_state.local_fleet
           else f"inventory {run_state.inventory}")
        + f" · release {ctx.release().id}")
    say(ctx.release().describe())
    rendered = run_state.results.get(SCENARIO_RESULT) or {}
    for line in rendered.get("described") or ():
        say(line)
    for line in rendered.get("drift") or ():
        say(f"  DRIFT {line}")
    outcomes = run_sequence(ctx, sequence, destroy_on_failure=not options.keep
                            and run_state.local_fleet and "create" in sequence)
    passed = all(outcome.passed for outcome in outcomes.values())
    result = StageOutcome(Path(run_state.run_dir), passed, outcomes)
    if passed and "verify" in outcomes and all(run_state.ran(s) for s in PROVING_STEPS):
        scenario = options.scenario or (Path(rendered["path"]) if rendered.get("path")
                                        else None)
        document = manifest.build(ctx.release(), verification_of(run_state),
                                  stage=stage_record(run_state), scenario=scenario,
                                  parity=parity_of(run_state))
        result.manifest, result.stored = manifest.record(document, ctx.run_dir, options.store)
    elif passed and "parity" in outcomes and (ctx.run_dir / manifest.FILE_NAME).is_file():
        # --step parity on a run whose release is already recorded: add the new proof to it.
        for record in parity_of(run_state):
            result.stored = manifest.record_parity(ctx.release().id, record, options.store,
                                                   ctx.run_dir)
        result.manifest = ctx.run_dir / manifest.FILE_NAME
    verify_results = run_state.results.get("verify") or {}
    if verify_results.get("junit"):
        result.junit = ctx.run_dir / verify_results["junit"]
    result.table = summary_table(run_state)
    return result


def begin(options: StageOptions, project: Path) -> StageState:
    """A new run directory and its state: the release to stage (resolved first, so a
    missing image leaves nothing behind), the secrets, the production overlay."""
    from xedgesim.deploy import release
    from xedgesim.deploy.fleet import connect
    from xedgesim.deploy.fleet_view import open_fleet
    from xedgesim.docker.containers import new_run_id

    overlay = paths.production_overlay(project)
    overlays = [overlay] if overlay else []
    hosts = options.hosts
    arches: tuple[str, ...] = (options.arch,)
    if options.inventory is not None:
        listed = open_fleet(options.inventory, overlays, project=project)
        # Staging rehearses production: its brokers speak TLS, with the inventory's files.
        certificates.require_tls(listed.hosts, False, options.inventory, override=None)
        hosts, arches = len(listed.hosts), listed.arches
    fleet_plan = None
    if options.scenario is not None:
        from xedgesim.deploy.fleet import host_name

        names = listed.names if options.inventory is not None else \
            tuple(host_name(index) for index in range(1, hosts + 1))
        fleet_plan = scenario_config.load_plan(options.scenario, names, options.place)
    staged = release.resolve_local(connect(), arches, options.images)
    run_dir = new_run_dir(options.out)
    if fleet_plan is not None:
        overlays = scenario_config.with_overlay(
            overlays, scenario_config.write_overlay(fleet_plan, run_dir))
    run_state = StageState(
        run_dir=str(run_dir.resolve()), run_id=new_run_id(), hosts=hosts,
        arch=",".join(arches), local_fleet=options.inventory is None,
        overlays=[str(path.resolve()) for path in overlays],  # a later --step may run elsewhere
        release=staged.to_dict()["images"],
        scenario=str(options.scenario.resolve()) if options.scenario is not None else None,
        tolerance=str(options.tolerance.resolve()) if options.tolerance is not None else None,
        as_written={option: str(path) for option, path in
                    (("scenario", options.scenario), ("tolerance", options.tolerance))
                    if path is not None},
        parity_seeds=options.parity_seeds,
    )
    if options.inventory is not None:
        run_state.inventory = str(options.inventory.resolve())
        if options.secrets is not None:
            run_state.secrets = str(options.secrets.resolve())
    else:
        run_state.secrets = str(secrets.generate(run_dir / "secrets", scenario_config.USERS))
    if fleet_plan is not None:
        lines: list[str] = []
        scenario_config.describe(fleet_plan, lines.append)
        drift = []
        if options.inventory is not None:
            drift = scenario_config.drift(fleet_plan, open_fleet(
                options.inventory, overlays, project=project).hosts)
        run_state.results[SCENARIO_RESULT] = {**fleet_plan.as_dict(), "path": str(
            options.scenario), "described": lines, "drift": drift}
    run_state.save()
    return run_state


def new_run_dir(out: Path | None) -> Path:
    """The run directory: ``--out`` if it is new or empty, else a fresh timestamped one; a
    refused ``--out`` that holds an earlier stage run says how to reuse its kept fleet."""
    hint = (" (an earlier stage run: add --step to run steps on its kept fleet)"
            if out is not None and (out / state.FILE_NAME).is_file() else "")
    return paths.run_dir(out, "stage", hint)


def run_sequence(ctx: StageContext, sequence: Sequence[str],
                 destroy_on_failure: bool) -> dict[str, StepOutcome]:
    """Run the steps in order, each printed as it starts and ends; stop at the first failure,
    then destroy the fleet if asked (also after Ctrl-C, which is re-raised afterwards, and
    after an unexpected error in a step, which is too)."""
    modules = step_modules()
    outcomes: dict[str, StepOutcome] = {}
    failed_or_interrupted = False
    try:
        for name in sequence:
            outcome = run_step(ctx, name, modules[name])
            outcomes[name] = outcome
            if not outcome.passed:
                failed_or_interrupted = True
                break
    except (Interrupted, KeyboardInterrupt) as error:
        signum = getattr(error, "signum", signal.SIGINT)
        ctx.say("interrupted: cleaning up")
        if destroy_on_failure and "destroy" not in outcomes:
            run_step(ctx, "destroy", modules["destroy"])
        raise Interrupted(f"stage interrupted; artifacts and state in {ctx.run_dir}",
                          signum) from None
    except Exception:
        # A bug in a step must not leave a fleet running that nothing will remove.
        ctx.say("a step stopped with an unexpected error: cleaning up")
        if destroy_on_failure and "destroy" not in outcomes:
            run_step(ctx, "destroy", modules["destroy"])
        raise
    if failed_or_interrupted and destroy_on_failure and "destroy" not in outcomes:
        outcomes["destroy"] = run_step(ctx, "destroy", modules["destroy"])
    return outcomes


def run_step(ctx: StageContext, name: str, module: ModuleType) -> StepOutcome:
    """One step, bracketed by its start and end lines and recorded in the state file."""
    ctx.say(f"[{name}] start")
    ctx.state.begin(name)
    started = time.monotonic()
    try:
        outcome: StepOutcome = module.execute(ctx)
    except (Interrupted, KeyboardInterrupt):
        ctx.state.end(name, "interrupted")
        ctx.say(f"[{name}] interrupted after {time.monotonic() - started:.1f}s")
        raise
    except DeployError as error:
        outcome = StepOutcome(False, str(error))
    seconds = time.monotonic() - started
    status = "skipped" if outcome.skipped else ("passed" if outcome.passed else "failed")
    ctx.state.end(name, status if status != "skipped" else "passed", outcome.summary)
    first, *rest = outcome.summary.splitlines() or [""]
    ctx.say(f"[{name}] {status.upper() if status == 'failed' else status} in "
            f"{seconds:.1f}s: {first}")
    for line in rest:
        ctx.say(f"    {line}")
    return outcome


def verification_of(run_state: StageState) -> manifest.Verification:
    verified = run_state.results.get("verify") or {}
    idempotent = (run_state.results.get("idempotence") or {}).get("idempotent")
    converge = run_state.results.get("converge") or {}
    return manifest.Verification(
        passed=bool(verified.get("passed")) and idempotent is True,
        tests=int(verified.get("tests", 0)), failures=int(verified.get("failures", 0)),
        errors=int(verified.get("errors", 0)), skipped=int(verified.get("skipped", 0)),
        junit=str(verified.get("junit", "")), idempotent=idempotent,
        hosts=tuple(sorted((converge.get("hosts") or {}).keys())),
    )


def parity_of(run_state: StageState) -> list[manifest.ParityRecord]:
    """The passing parity records the run's steps left in its state (the parity step's
    ``results["parity"]["records"]``, each a ``ParityRecord.as_dict``), for the manifest. A
    breach is never recorded: a stage whose parity breached fails and writes no manifest."""
    found = run_state.results.get(PARITY_RESULT) or []
    if isinstance(found, dict):
        found = found.get("records") or []
    records = [manifest.ParityRecord.from_dict(entry) for entry in found]
    return [record for record in records if record.passed]


def stage_record(run_state: StageState) -> dict[str, Any]:
    """What the manifest says about the run that proved the release (no secret, no key)."""
    return {
        "run": run_state.run_dir, "hosts": run_state.hosts, "arch": run_state.arch,
        "fleet": "local" if run_state.local_fleet else run_state.inventory,
        "overlays": run_state.overlays,
        "steps": {name: {"status": record.status, "seconds": record.seconds}
                  for name, record in run_state.steps.items()},
    }


def summary_table(run_state: StageState) -> str:
    """Per host: converge ok/changed, idempotence changed, verify passed/failed."""
    converge = (run_state.results.get("converge") or {}).get("hosts") or {}
    second = (run_state.results.get("idempotence") or {}).get("hosts") or {}
    verified = run_state.results.get("verify") or {}
    per_host = verified.get("per_host") or {}
    hosts = sorted(set(converge) | set(second))
    if not hosts:
        return ""
    rows = [("host", "converge", "idempotence", "verify")]
    for host in hosts:
        first = converge.get(host)
        again = second.get(host)
        checks = per_host.get(host)
        rows.append((
            host,
            f"ok {first['ok']} · changed {first['changed']}" if first else "-",
            f"changed {again['changed']}" if again else "-",
            (f"{checks['passed']} passed" + (f", {checks['failed']} failed"
                                             if checks['failed'] else "")) if checks else "-",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths,
                                                                        strict=True)).rstrip()
                     for row in rows)
