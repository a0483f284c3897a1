"""The ``xedge images`` click group (xedgesim/images/commands.py), with the builder faked."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from xedgesim.cli import main
from xedgesim.images import build as build_module
from xedgesim.images.errors import EngineUnavailable


def test_help_teaches_with_examples() -> None:
    result = CliRunner().invoke(main, ["images", "build", "--help"])

    assert result.exit_code == 0
    assert "xedge images build --arch all" in result.output
    assert "[default: all]" in result.output


def test_unknown_arch_is_a_usage_error() -> None:
    assert CliRunner().invoke(main, ["images", "build", "--arch", "mips"]).exit_code == 2


def test_no_engine_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_engine(*_args: object, **_kwargs: object) -> None:
        raise EngineUnavailable("no Docker engine answers (socket missing): run scripts/setup-host")

    monkeypatch.setattr(build_module, "build_images", no_engine)
    result = CliRunner().invoke(main, ["images", "build", "--arch", "amd64"])

    assert result.exit_code == 1
    assert "run scripts/setup-host" in result.output


def test_importing_the_commands_does_not_import_the_docker_sdk() -> None:
    code = "import sys, xedgesim, xedgesim.images.commands; print('docker' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "False"


def test_the_group_help_names_every_image() -> None:
    from xedgesim.images.registry import IMAGES

    result = CliRunner().invoke(main, ["images", "--help"])

    assert all(spec.name in result.output for spec in IMAGES), result.output
