"""Step ``destroy``: remove the local fleet (its logs are kept under ``<run>/logs``) and the
image archives saved for it. Staging onto an existing inventory leaves that fleet alone."""

from __future__ import annotations

import shutil

from xedgesim.deploy import fleet
from xedgesim.deploy.steps import StageContext, StepOutcome

NAME = "destroy"


def execute(ctx: StageContext) -> StepOutcome:
    shutil.rmtree(ctx.run_dir / "images", ignore_errors=True)
    if not ctx.state.local_fleet:
        return StepOutcome(True, "the inventory's hosts are left as they are", skipped=True)
    removed = fleet.destroy(ctx.state, say=ctx.say, client=ctx.docker())
    left = ctx.state.containers + ctx.state.volumes
    if left:
        return StepOutcome(False, f"could not remove {', '.join(left)}")
    return StepOutcome(True, f"{removed} host(s) removed")
