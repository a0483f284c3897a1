"""End-to-end tests of staging and deploying: real SSH, real Ansible, real engines.

They need a Docker engine (the simulated Pis run their own inside it), ``ansible-playbook``,
an ``ssh`` client and the project's amd64 images (built here when missing: minutes the first
time, seconds after). Without them the tests skip and say why, except under CI (``CI=true``),
where a missing piece means the host was not prepared, so they fail.

Every fleet a test creates is destroyed in a finalizer, pass or fail, and every release
manifest goes to a store of the test's own, never to ``runs/releases``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from xedgesim.cli import main
from xedgesim.deploy import commands, state
from xedgesim.deploy.runner import executable_path


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: real SSH, Ansible and engines (slow)")


def missing(reason: str) -> None:
    """Fail under CI (the host should have been prepared), else skip saying what to do."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason=reason)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    from xedgesim.images.engine import connect
    from xedgesim.images.errors import EngineUnavailable

    for tool in ("ansible-playbook", "ansible-inventory", "ssh"):
        if shutil.which(tool, path=executable_path()) is None:  # as xedge looks for them
            missing(f"{tool} is not installed (pip install ansible; apt-get install "
                    "openssh-client)")
    try:
        client = connect()
    except EngineUnavailable as error:
        missing(f"no Docker engine: {error}")
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def images(docker_client: Any) -> Any:
    """broker, gateway and edge-host for amd64 (seconds when already built)."""
    from xedgesim.images.build import build_images

    return build_images(("amd64",), connect=lambda: docker_client, progress=lambda text: None)


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tests' own manifest store."""
    return tmp_path_factory.mktemp("releases")


def xedge(command: Any, args: list[str], store: Path) -> Result:
    """Run one of the deploy commands in-process, with the tests' manifest store, through
    ``xedge`` itself: its group is where an error becomes a message and an exit code."""
    result = CliRunner().invoke(main, [command.name, *args],
                                env={"XEDGESIM_RELEASES": str(store)}, catch_exceptions=False)
    print(result.output)  # shown by pytest when the test fails
    return result


@pytest.fixture
def run_xedge(store: Path) -> Any:
    """``run_xedge(command, args)``: a deploy command run in-process with the tests' store."""
    return lambda command, args: xedge(command, args, store)


@pytest.fixture(scope="module")
def kept_fleet(images: Any, store: Path,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A staged, passing, kept two-host fleet (its run directory); destroyed afterwards."""
    from xedgesim.deploy import fleet

    run_dir = tmp_path_factory.mktemp("kept") / "stage"
    try:
        result = xedge(commands.stage, ["--hosts", "2", "--keep", "--out", str(run_dir),
                                        "--no-progress"], store)
        assert result.exit_code == 0, "staging the kept fleet failed"
        yield run_dir
    finally:
        if (run_dir / state.FILE_NAME).is_file():
            fleet.destroy(state.load(run_dir), say=print)
