"""The steps of ``xedge stage``, one module each, in the order they run:

``create`` -> ``converge`` -> ``idempotence`` -> ``verify`` -> ``workload`` -> ``parity`` ->
``destroy`` (``workload`` and ``parity`` only when the stage has a scenario).

Each step is a function ``execute(ctx) -> StepOutcome`` over a ``StageContext`` (the run's
state file, its directory, how to talk). A step finds everything it needs in the state file,
so any step can run alone against a kept fleet (``xedge stage --out DIR --step verify``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xedgesim.deploy.release import Release
from xedgesim.deploy.state import StageState


@dataclass(frozen=True)
class StepOutcome:
    passed: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False


@dataclass
class StageContext:
    """What every step gets: the state (persisted), where to write, how to report."""

    state: StageState
    project: Path
    say: Callable[[str], None] = print
    live: bool | None = None  # progress line on a terminal (None: when stdout is one)
    client: Any = None  # docker SDK client, made on first use

    @property
    def run_dir(self) -> Path:
        return Path(self.state.run_dir)

    @property
    def inventory(self) -> Path:
        return Path(self.state.inventory)

    @property
    def overlays(self) -> tuple[Path, ...]:
        return tuple(Path(p) for p in self.state.overlays)

    @property
    def secrets(self) -> Path | None:
        return Path(self.state.secrets) if self.state.secrets else None

    def docker(self) -> Any:
        if self.client is None:
            from xedgesim.deploy.fleet import connect

            self.client = connect()
        return self.client

    def release(self) -> Release:
        """The release this run stages (recorded in the state when the run began)."""
        return Release.from_dict({"images": self.state.release or {}})
