"""xedgesim/deploy/stage.py: the lifecycle's order, stops, cleanup and state, with fake steps."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from xedgesim.deploy import stage as stage_module
from xedgesim.deploy import state
from xedgesim.deploy.errors import DeployError, Interrupted, UsageError
from xedgesim.deploy.state import StageState
from xedgesim.deploy.steps import StageContext, StepOutcome


def fake_steps(monkeypatch: pytest.MonkeyPatch, behaviour: dict[str, Any]) -> list[str]:
    """Step modules that record their call and do what ``behaviour`` says (default: pass)."""
    ran: list[str] = []

    def module(name: str) -> SimpleNamespace:
        def execute(ctx: StageContext) -> StepOutcome:
            ran.append(name)
            what = behaviour.get(name, "pass")
            if what == "interrupt":
                raise KeyboardInterrupt
            if what == "error":
                raise DeployError(f"{name} broke")
            if what == "bug":
                raise AttributeError(f"{name} has a bug")
            return StepOutcome(what == "pass", f"{name} said {what}")

        return SimpleNamespace(NAME=name, execute=execute)

    monkeypatch.setattr(stage_module, "step_modules",
                        lambda: {name: module(name) for name in state.STEPS})
    return ran


class Recorded(StageContext):
    """A context whose output lines are kept."""

    lines: list[str]


@pytest.fixture
def ctx(tmp_path: Path) -> Recorded:
    run_state = StageState(str(tmp_path), "abc", 2, "amd64", True)
    run_state.save()
    lines: list[str] = []
    context = Recorded(run_state, tmp_path, say=lines.append)
    context.lines = lines
    return context


def test_steps_run_in_order_and_are_printed_and_recorded(monkeypatch, ctx) -> None:
    ran = fake_steps(monkeypatch, {})
    outcomes = stage_module.run_sequence(ctx, state.STEPS, destroy_on_failure=True)
    assert ran == list(state.STEPS) and all(o.passed for o in outcomes.values())
    assert ctx.lines[0] == "[create] start"
    assert ctx.lines[1].startswith("[create] passed in ")
    recorded = state.load(ctx.run_dir)
    assert [recorded.steps[s].status for s in state.STEPS] == ["passed"] * len(state.STEPS)


def test_a_failed_step_stops_the_sequence_and_the_fleet_is_destroyed(monkeypatch, ctx) -> None:
    ran = fake_steps(monkeypatch, {"idempotence": "fail"})
    outcomes = stage_module.run_sequence(ctx, ("create", "converge", "idempotence", "verify"),
                                         destroy_on_failure=True)
    assert ran == ["create", "converge", "idempotence", "destroy"]
    assert not outcomes["idempotence"].passed
    assert any(line.startswith("[idempotence] FAILED") for line in ctx.lines)
    assert state.load(ctx.run_dir).steps["idempotence"].status == "failed"


def test_a_step_error_is_a_failed_step_not_a_traceback(monkeypatch, ctx) -> None:
    fake_steps(monkeypatch, {"converge": "error"})
    outcomes = stage_module.run_sequence(ctx, ("create", "converge"), destroy_on_failure=False)
    assert outcomes["converge"].summary == "converge broke"


def test_a_bug_in_a_step_destroys_the_fleet_then_raises(monkeypatch, ctx) -> None:
    ran = fake_steps(monkeypatch, {"verify": "bug"})
    with pytest.raises(AttributeError, match="verify has a bug"):
        stage_module.run_sequence(ctx, state.STEPS, destroy_on_failure=True)
    assert ran == ["create", "converge", "idempotence", "verify", "destroy"]
    assert state.load(ctx.run_dir).steps["destroy"].status == "passed"


def test_ctrl_c_destroys_the_fleet_then_raises_interrupted(monkeypatch, ctx) -> None:
    ran = fake_steps(monkeypatch, {"converge": "interrupt"})
    with pytest.raises(Interrupted):
        stage_module.run_sequence(ctx, state.STEPS, destroy_on_failure=True)
    assert ran == ["create", "converge", "destroy"]
    assert state.load(ctx.run_dir).steps["converge"].status == "interrupted"


def test_keep_leaves_a_failed_fleet_up(monkeypatch, ctx) -> None:
    ran = fake_steps(monkeypatch, {"verify": "fail"})
    stage_module.run_sequence(ctx, ("create", "converge", "idempotence", "verify"),
                              destroy_on_failure=False)
    assert "destroy" not in ran


def test_an_existing_out_dir_is_never_reused(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("precious")
    with pytest.raises(UsageError, match="not empty"):
        stage_module.new_run_dir(tmp_path / "mine")
    earlier = tmp_path / "earlier"
    StageState(str(earlier), "x", 1, "amd64", True).path.parent.mkdir()
    StageState(str(earlier), "x", 1, "amd64", True).save()
    with pytest.raises(UsageError, match="add --step"):
        stage_module.new_run_dir(earlier)


def test_steps_need_an_earlier_run(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a stage run"):
        stage_module.stage(stage_module.StageOptions(out=tmp_path, steps=("verify",)))
    with pytest.raises(UsageError, match="needs --out"):
        stage_module.stage(stage_module.StageOptions(steps=("verify",)))


def test_summary_table_and_verification_from_the_state(tmp_path: Path) -> None:
    run_state = StageState(str(tmp_path), "x", 2, "amd64", True)
    run_state.results = {
        "converge": {"hosts": {"edge-1": {"ok": 51, "changed": 20},
                               "edge-2": {"ok": 51, "changed": 20}}},
        "idempotence": {"hosts": {"edge-1": {"ok": 51, "changed": 0},
                                  "edge-2": {"ok": 51, "changed": 0}}, "idempotent": True},
        "verify": {"passed": True, "tests": 30, "failures": 0, "errors": 0, "skipped": 0,
                   "junit": "verify/junit.xml",
                   "per_host": {"edge-1": {"passed": 15, "failed": 0, "skipped": 0},
                                "edge-2": {"passed": 14, "failed": 1, "skipped": 0}}},
    }
    table = stage_module.summary_table(run_state).splitlines()
    assert table[0].split() == ["host", "converge", "idempotence", "verify"]
    assert table[1] == "edge-1  ok 51 · changed 20  changed 0    15 passed"
    assert table[2].endswith("14 passed, 1 failed")
    verification = stage_module.verification_of(run_state)
    assert verification.passed and verification.idempotent
    assert verification.hosts == ("edge-1", "edge-2")


def test_staging_onto_an_inventory_without_certificates_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from xedgesim.deploy.inventory import Inventory, InventoryHost

    fleet = Inventory(tmp_path / "hosts.yml", (InventoryHost("pi-1", {"xedgesim_arch": "arm64"}),))
    monkeypatch.setattr("xedgesim.deploy.inventory.load", lambda *a, **k: fleet)
    monkeypatch.setattr("xedgesim.deploy.fleet.connect",
                        lambda: pytest.fail("refused only after reaching the engine"))
    options = stage_module.StageOptions(inventory=tmp_path / "hosts.yml", out=tmp_path / "run")
    with pytest.raises(UsageError, match="no TLS certificate for the broker of pi-1") as refused:
        stage_module.stage(options)
    assert "--insecure-plaintext" not in str(refused.value)
    assert not (tmp_path / "run").exists()


def test_a_tolerance_given_to_a_step_is_kept_absolute_and_as_written(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from xedgesim.deploy.release import ImageRef, Release

    fake_steps(monkeypatch, {})
    monkeypatch.chdir(tmp_path)
    Path("parity.yaml").write_text("metrics: {}\n")
    release = Release((ImageRef("broker", "amd64", "b:1", "sha256:" + "b" * 64),))
    run = tmp_path / "runs" / "stage-1"
    run.mkdir(parents=True)
    StageState(str(run), "x", 1, "amd64", True, release=release.to_dict()["images"]).save()
    stage_module.stage(stage_module.StageOptions(out=run, steps=("parity",),
                                                 tolerance=Path("parity.yaml")),
                       say=lambda line: None)
    again = state.load(run)
    assert again.tolerance == str(tmp_path / "parity.yaml")  # a later --step finds it anywhere
    assert again.as_written == {"tolerance": "parity.yaml"}  # what the manifest shows


def test_a_relative_out_still_keeps_every_path_of_the_run_absolute(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``--out runs/x --scenario s.yaml`` from one directory, ``--step verify`` from another:
    the run's state names its directory and the inventory sources (the production overlay,
    the overlay rendered from the scenario) absolutely, so the later step finds them."""
    from xedgesim.deploy.release import ImageRef, Release

    release = Release((ImageRef("broker", "amd64", "b:1", "sha256:" + "b" * 64),))
    monkeypatch.setattr("xedgesim.deploy.fleet.connect", lambda: None)
    monkeypatch.setattr("xedgesim.deploy.release.resolve_local", lambda *a, **k: release)
    monkeypatch.chdir(tmp_path)
    Path("s.yaml").write_text(
        "name: s\nduration: 5s\nnodes:\n"
        "  - {id: sensors, type: sensor, count: 2, interval: 1s, to: broker, topic: 't/{id}'}\n"
        "  - {id: broker, type: broker, implementation: docker, image: xedgesim/broker:latest}\n"
        "  - {id: gw1, type: gateway, implementation: docker, image: xedgesim/gateway:latest,\n"
        "     docker: {mode: service}, subscribe: {broker: broker, topics: ['t/+']},\n"
        "     aggregate_every: 5s, to: broker, topic: agg/gw1}\n")
    project = Path(stage_module.__file__).resolve().parents[2]
    run_state = stage_module.begin(stage_module.StageOptions(
        hosts=1, out=Path("runs/x"), scenario=Path("s.yaml")), project)
    assert run_state.run_dir == str(tmp_path / "runs" / "x")
    assert run_state.overlays and all(Path(path).is_absolute() and Path(path).is_file()
                                      for path in run_state.overlays)
    assert str(tmp_path / "runs" / "x" / "scenario" / "fleet-vars.yml") in run_state.overlays
    assert Path(run_state.secrets or "").is_absolute() and Path(run_state.secrets or "").is_file()
