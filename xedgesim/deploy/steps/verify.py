"""Step ``verify``: the testinfra suite and the MQTT smoke test against the staged fleet."""

from __future__ import annotations

from xedgesim.deploy import verification
from xedgesim.deploy.fleet_view import open_fleet
from xedgesim.deploy.steps import StageContext, StepOutcome

NAME = "verify"


def hosts_of(ctx: StageContext) -> list[str]:
    """The hosts the converge saw (the fleet's), for the per-host verify counts."""
    converge = ctx.state.results.get("converge") or {}
    return sorted((converge.get("hosts") or {}).keys())


def execute(ctx: StageContext) -> StepOutcome:
    out = ctx.run_dir / "verify"
    release_file = verification.write_release_file(out / "release.json",
                                                   ctx.release().to_dict({}))
    fleet = open_fleet(ctx.inventory, ctx.overlays, release_file=release_file,
                       secrets=ctx.secrets, project=ctx.project)
    result = verification.run_suite(fleet, out, say=ctx.say)
    details = {
        "passed": result.passed, "tests": result.tests, "failures": result.failures,
        "errors": result.errors, "skipped": result.skipped,
        "junit": str(result.junit.relative_to(ctx.run_dir.resolve())),
        "failed": list(result.failed), "smoke": list(result.smoke),
        "seconds": round(result.seconds, 3),
        "per_host": verification.per_host(result.junit, hosts_of(ctx)),
    }
    ctx.state.results[NAME] = details
    summary = result.summary()
    if not result.passed:
        summary += "\n" + "\n".join(f"  {line}" for line in result.failed)
    return StepOutcome(result.passed, summary, details)
