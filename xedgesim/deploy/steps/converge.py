"""Step ``converge``: ``playbooks/stage.yml`` with the release and the production settings."""

from __future__ import annotations

from xedgesim.deploy import paths, release
from xedgesim.deploy.progress import PlaybookProgress
from xedgesim.deploy.runner import PlaybookResult, PlaybookRun, run_playbook
from xedgesim.deploy.steps import StageContext, StepOutcome

NAME = "converge"


def converge(ctx: StageContext, name: str) -> PlaybookResult:
    """One run of stage.yml (the idempotence step runs it too, under its own name)."""
    staged = ctx.release()
    archives = release.save_archives(ctx.docker(), staged, ctx.run_dir / "images",
                                     progress=lambda text: ctx.say(f"  {name}: {text}"))
    run = PlaybookRun(
        playbook=paths.playbook("stage", ctx.project),
        inventories=(*ctx.overlays, ctx.inventory),
        run_dir=ctx.run_dir,
        name=name,
        extravars={"xedgesim_release": staged.to_dict(archives)},
        secret_vars=(ctx.secrets,) if ctx.secrets else (),
        project_dir=ctx.project,
    )
    display = PlaybookProgress(name, live=ctx.live)
    try:
        return run_playbook(run, progress=display)
    finally:
        display.close()


def execute(ctx: StageContext) -> StepOutcome:
    result = converge(ctx, NAME)
    ctx.state.results[NAME] = result.as_dict()
    if not result.passed:
        return StepOutcome(False, result.problem(), result.as_dict())
    per_host = ", ".join(f"{host} ok={s.ok} changed={s.changed}"
                         for host, s in sorted(result.hosts.items()))
    return StepOutcome(True, per_host, result.as_dict())
