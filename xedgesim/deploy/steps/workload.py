"""Step ``workload``: the stage's scenario (``--scenario``) driven against the verified fleet.

Runs after ``verify`` and before ``destroy``, only when the stage was given a scenario: the
scenario's sensors publish through the network model to each host's real broker, its gateway
aggregates on the device, the cloud subscribes (:mod:`xedgesim.fleetrun`). The fleet run is
written to ``<run>/fleet-run/``, with the schema of ``xedge simulate``, for ``xedge compare``.
The step passes when the run completed and kept pace (its p95 lag within the bound).
"""

from __future__ import annotations

from pathlib import Path

from xedgesim.deploy import verification
from xedgesim.deploy.steps import StageContext, StepOutcome

NAME = "workload"


def execute(ctx: StageContext) -> StepOutcome:
    if not ctx.state.scenario:
        return StepOutcome(True, "no scenario (--scenario): nothing to run", skipped=True)
    from xedgesim.fleetrun.command import load

    scenario = load(Path(ctx.state.scenario), None)
    done = verification.run_scenario(ctx.inventory, scenario, ctx.run_dir,
                                     secrets_file=ctx.secrets, overlays=ctx.overlays,
                                     project=ctx.project, say=ctx.say,
                                     extra={"stage_run": str(ctx.run_dir)})
    summary = done.summary
    details = {
        "run": str(done.out.relative_to(ctx.run_dir)) if done.out.is_relative_to(ctx.run_dir)
        else str(done.out),
        "scenario": ctx.state.scenario, "valid": done.valid, "seconds": round(done.wall_s, 3),
        "flows": {name: {"sent": flow["sent"], "delivered": flow["delivered"]}
                  for name, flow in summary["flows"].items()},
        "aggregates": {node: h["count"] for node, h in summary["end_to_end_ms"].items()},
    }
    ctx.state.results[NAME] = details
    flows = ", ".join(f"{name} {flow['delivered']}/{flow['sent']}"
                      for name, flow in details["flows"].items())
    text = f"{scenario.name} on {len(done.hosts)} host(s): {flows}; results in {done.out}"
    if not done.valid:
        text += "\n  INVALID: the run could not keep pace (p95 lag past its bound)"
    return StepOutcome(done.valid, text, details)
