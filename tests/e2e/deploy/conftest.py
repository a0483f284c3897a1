"""The fleet ``xedge stage`` builds and ``xedge deploy`` is tested against: one staged, kept
three-host fleet for this package, destroyed when its last test is done.

Staging a fleet costs minutes, so the package stages one and every module uses it:
test_stage.py checks what the stage run left (manifest, digests, secrets), test_chaos.py and
test_deploy.py deploy to it. Its teardown is the stage's own ``destroy`` step
(``xedge stage --out RUN --step destroy``), checked like a test: it passes and leaves no
container or volume of the run. The package scope (not the session's) destroys the fleet
before the other e2e modules stage fleets of their own, so idle hosts never load the machine
under their paced fleet runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from tests.e2e.conftest import xedge
from xedgesim.deploy import commands, state


@dataclass(frozen=True)
class KeptStage:
    """The kept fleet's stage run: its directory and what ``xedge stage`` printed."""

    run_dir: Path
    result: Result


@pytest.fixture(scope="package")
def kept_stage(images: Any, store: Path, docker_client: Any,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeptStage]:
    """``xedge stage --hosts 3 --keep``, destroyed afterwards by its ``destroy`` step, pass or
    fail; that step must pass and leave nothing of the run behind."""
    from xedgesim.deploy import fleet

    run_dir = tmp_path_factory.mktemp("kept") / "stage"
    try:
        result = xedge(commands.stage, ["--hosts", "3", "--keep", "--out", str(run_dir),
                                        "--no-progress"], store)
        assert result.exit_code == 0, "staging the kept fleet failed"
        yield KeptStage(run_dir, result)
    finally:
        if (run_dir / state.FILE_NAME).is_file():
            try:
                destroyed = xedge(commands.stage, ["--out", str(run_dir), "--step", "destroy",
                                                   "--no-progress"], store)
            finally:
                recorded = state.load(run_dir)
                left = {"label": f"org.xedgesim.run={recorded.run_id}"}
                containers = docker_client.containers.list(all=True, filters=left)
                volumes = docker_client.volumes.list(filters=left)
                if containers or volumes:
                    fleet.destroy(recorded, say=print)  # never leave a fleet behind
            assert destroyed.exit_code == 0 and "[destroy] passed" in destroyed.output
            assert (containers, volumes) == ([], []), "destroy left part of the fleet"
            assert recorded.containers == [] and recorded.volumes == []


@pytest.fixture(scope="package")
def kept_fleet(kept_stage: KeptStage) -> Path:
    """The kept fleet's run directory. Each test leaves every host on one whole release with
    sshd up; the release may differ from the staged one (the chaos tests deploy new ones), so
    a test reads what a host runs instead of assuming it."""
    return kept_stage.run_dir
