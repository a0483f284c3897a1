"""Step ``create``: start the local staging fleet and write its inventory (nothing to do
when staging onto an existing inventory)."""

from __future__ import annotations

from xedgesim.deploy import fleet
from xedgesim.deploy.steps import StageContext, StepOutcome

NAME = "create"


def execute(ctx: StageContext) -> StepOutcome:
    state = ctx.state
    if not state.local_fleet:
        return StepOutcome(True, f"using the inventory {state.inventory}", skipped=True)
    if state.fleet_exists:
        return StepOutcome(True, f"{len(state.containers)} host(s) already up", skipped=True)
    made = fleet.create(state, say=ctx.say, client=ctx.docker())
    state.inventory = str(made.inventory)
    state.save()
    ports = ", ".join(f"{h.name} ssh :{h.ssh_port} mqtt :{h.mqtt_port}" for h in made.hosts)
    return StepOutcome(True, f"{len(made.hosts)} host(s) up, ssh answers ({ports})",
                       {"hosts": [h.__dict__ for h in made.hosts]})
