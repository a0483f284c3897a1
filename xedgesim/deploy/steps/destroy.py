"""Step ``destroy``: remove the local fleet (its logs are kept under ``<run>/logs``) and the
image archives saved for it. Staging onto an existing inventory leaves that fleet alone.

The state file names what to remove, but a name is not proof of ownership: the file may be
stale, edited or copied from another run, and the name now taken by someone else's container.
So each container and volume must carry this run's labels (``org.xedgesim.managed=true`` and
``org.xedgesim.run=<run id>``) before anything is removed; what does not is refused, named,
and dropped from the state.
"""

from __future__ import annotations

import shutil
from typing import Any

from xedgesim.deploy import fleet
from xedgesim.deploy.state import StageState
from xedgesim.deploy.steps import StageContext, StepOutcome
from xedgesim.docker.containers import LABEL_MANAGED, LABEL_RUN

NAME = "destroy"


def not_this_runs(client: Any, state: StageState) -> list[str]:
    """Drop from the state the containers and volumes that do not carry this run's labels;
    returns them as ``"container x (org.xedgesim.run=other)"``. Gone ones stay (destroy
    forgets them)."""
    import docker

    refused = []
    for kind, names, get in (("container", state.containers, client.containers.get),
                             ("volume", state.volumes, client.volumes.get)):
        for name in list(names):
            try:
                found = get(name)
            except docker.errors.NotFound:
                continue
            labels = (found.labels if kind == "container" else found.attrs.get("Labels")) or {}
            if labels.get(LABEL_MANAGED) != "true" or labels.get(LABEL_RUN) != state.run_id:
                names.remove(name)
                said = (f"{LABEL_RUN}={labels[LABEL_RUN]}" if LABEL_RUN in labels
                        else "not made by xedgesim" if labels.get(LABEL_MANAGED) != "true"
                        else f"no {LABEL_RUN} label")
                refused.append(f"{kind} {name} ({said})")
    if refused:
        state.save()
    return refused


def execute(ctx: StageContext) -> StepOutcome:
    shutil.rmtree(ctx.run_dir / "images", ignore_errors=True)
    if not ctx.state.local_fleet:
        return StepOutcome(True, "the inventory's hosts are left as they are", skipped=True)
    client = ctx.docker()
    refused = not_this_runs(client, ctx.state)
    removed = fleet.destroy(ctx.state, say=ctx.say, client=client)
    problems = []
    if refused:
        problems.append(f"not removed, not this run's ({ctx.state.run_id}): "
                        + ", ".join(refused))
    left = ctx.state.containers + ctx.state.volumes
    if left:
        problems.append(f"could not remove {', '.join(left)}")
    if problems:
        return StepOutcome(False, "; ".join([*problems, f"{removed} host(s) removed"]),
                           {"refused": refused, "left": left})
    return StepOutcome(True, f"{removed} host(s) removed")
