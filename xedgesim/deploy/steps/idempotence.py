"""Step ``idempotence``: a second converge must change nothing and restart nothing.

Decided from structure, not text: ansible-runner's per-host stats must say ``changed=0`` for
every host, and the containers on every host must have the same ids, start times and restart
counts before and after. The culprits are named from the change events (``host · task``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from xedgesim.deploy import snapshot
from xedgesim.deploy.events import HostStats
from xedgesim.deploy.fleet_view import open_fleet
from xedgesim.deploy.steps import StageContext, StepOutcome
from xedgesim.deploy.steps.converge import converge

NAME = "idempotence"


@dataclass(frozen=True)
class Verdict:
    passed: bool
    changed: dict[str, int]  # host -> changed count, only hosts that changed
    culprits: tuple[str, ...]  # "host · task" that reported a change
    restarted: tuple[str, ...]  # "host · container · what happened"
    problem: str = ""  # the run itself failed

    def summary(self) -> str:
        if self.problem:
            return self.problem
        if self.passed:
            return "changed=0 on every host; no container restarted"
        lines = []
        if self.changed:
            lines.append("the second converge changed: " + ", ".join(
                f"{host} changed={count}" for host, count in sorted(self.changed.items())))
            lines += [f"  {culprit}" for culprit in self.culprits]
        if self.restarted:
            lines.append("containers restarted by the second converge:")
            lines += [f"  {line}" for line in self.restarted]
        return "\n".join(lines)


def decide(stats: Mapping[str, HostStats], changes: Sequence[tuple[str, str]],
           restarted: Sequence[str], run_passed: bool = True, problem: str = "") -> Verdict:
    """The idempotence verdict from a second converge's stats, its change events and the
    container comparison."""
    if not run_passed or not stats:
        return Verdict(False, {}, (), tuple(restarted),
                       problem or "the second converge did not complete")
    changed = {host: s.changed for host, s in stats.items() if s.changed}
    culprits = tuple(dict.fromkeys(f"{host} · {task}" for host, task in changes))
    return Verdict(not changed and not restarted, changed, culprits, tuple(restarted))


def execute(ctx: StageContext) -> StepOutcome:
    hosts = snapshot.hosts_of(open_fleet(ctx.inventory, ctx.overlays, secrets=ctx.secrets,
                                         project=ctx.project))
    before = snapshot.take(hosts)
    result = converge(ctx, NAME)
    after = snapshot.take(hosts)
    verdict = decide(result.hosts, result.changes, snapshot.restarted(before, after),
                     result.passed, result.problem())
    details = {**result.as_dict(), "restarted": list(verdict.restarted),
               "idempotent": verdict.passed}
    ctx.state.results[NAME] = details
    return StepOutcome(verdict.passed, verdict.summary(), details)
