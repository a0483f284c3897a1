"""The fleet ``xedge deploy`` is tested against: one staged, kept three-host fleet for this
package (test_chaos.py and test_deploy.py), destroyed when its last test is done.

Staging a fleet costs minutes, so the two modules share one; the package scope (not the
session's) destroys it before the other e2e modules stage fleets of their own, so an idle
fleet never loads the machine under their paced fleet runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import xedge
from xedgesim.deploy import commands, state


@pytest.fixture(scope="package")
def kept_fleet(images: Any, store: Path,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A staged, passing, kept three-host fleet (its run directory); destroyed afterwards,
    pass or fail. Each test leaves every host on one whole release with sshd up; the release
    may differ from the staged one (the chaos tests deploy new ones), so a test reads what a
    host runs instead of assuming it."""
    from xedgesim.deploy import fleet

    run_dir = tmp_path_factory.mktemp("kept") / "stage"
    try:
        result = xedge(commands.stage, ["--hosts", "3", "--keep", "--out", str(run_dir),
                                        "--no-progress"], store)
        assert result.exit_code == 0, "staging the kept fleet failed"
        yield run_dir
    finally:
        if (run_dir / state.FILE_NAME).is_file():
            fleet.destroy(state.load(run_dir), say=print)
