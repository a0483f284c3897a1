"""An installed xedge needs no checkout: the wheel is built, installed into a fresh venv, and
its commands run from a directory far from the repository.

This lives with the integration tests because ``xedge images list`` needs a real engine (under
CI=true a missing one fails, through the ``docker_client`` fixture) and because building a
wheel takes tens of seconds, too slow for the unit tests. The fresh venv gets the wheel with
``--no-deps``; its dependencies come from this interpreter's site-packages through a ``.pth``
line, which adds the directory but runs none of its ``.pth`` files, so this checkout's
editable install cannot leak in: the test checks that ``xedgesim`` is imported from the venv.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from xedgesim.images.hashing import tree_hash
from xedgesim.images.layered import package_source, staged_context
from xedgesim.images.registry import contexts_dir

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHECKOUT = Path(__file__).resolve().parents[2]


class Installed:
    """A venv holding the wheel, and a way to run its commands from ``cwd``."""

    def __init__(self, venv: Path, cwd: Path) -> None:
        self.venv = venv
        self.cwd = cwd
        self.env = {key: value for key, value in os.environ.items()
                    if not key.startswith(("XEDGESIM_", "PYTHON"))}
        self.env["XEDGESIM_RELEASES"] = str(cwd / "releases")

    def run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(self.venv / "bin" / program), *args], cwd=self.cwd,
                              env=self.env, capture_output=True, text=True, timeout=300)
        print(f"$ {program} {' '.join(args)}\n{done.stdout}{done.stderr}")
        return done

    def python(self, code: str) -> list[str]:
        done = self.run("python", "-c", code)
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    work = tmp_path_factory.mktemp("install")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(work / "dist"), str(CHECKOUT)], check=True, timeout=600)
    [wheel] = (work / "dist").glob("xedgesim-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True).stdout.strip())
    ours = sysconfig.get_paths()
    (site / "xedgesim-test-dependencies.pth").write_text(
        "\n".join(dict.fromkeys([ours["purelib"], ours["platlib"]])) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "--no-deps", "--no-index", "--ignore-installed", "-q", str(wheel)],
                   check=True, timeout=300)
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    yield Installed(venv, elsewhere)


def test_the_installed_package_is_the_wheels(installed: Installed) -> None:
    package, root = installed.python(
        "import xedgesim, xedgesim.project as p; print(xedgesim.__file__); print(p.project_root())")
    assert Path(package).is_relative_to(installed.venv), package
    assert Path(root) == Path(package).parent / "_project"


def test_validate_runs_from_anywhere(installed: Installed) -> None:
    scenario = installed.cwd / "quickstart.yaml"
    scenario.write_text((CHECKOUT / "scenarios" / "quickstart.yaml").read_text())
    done = installed.run("xedge", "validate", scenario.name)
    assert done.returncode == 0, done.stderr


def test_stage_help_and_releases_run_from_anywhere(installed: Installed) -> None:
    done = installed.run("xedge", "stage", "--help")
    assert done.returncode == 0 and "--releases DIR" in done.stdout, done.stderr
    done = installed.run("xedge", "releases")
    assert done.returncode == 0 and str(installed.cwd / "releases") in done.stdout


def test_images_list_runs_from_anywhere(installed: Installed, docker_client: Any) -> None:
    done = installed.run("xedge", "images", "list")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("NAME")


def test_stage_and_deploy_find_the_packaged_playbooks_and_infra_suite(
        installed: Installed) -> None:
    playbook, infra, config, production, contexts = installed.python(
        "from xedgesim.deploy import paths; from xedgesim.images import registry\n"
        "for path in (paths.playbook('site'), paths.infra_tests(), paths.ansible_config(),"
        " paths.production_overlay(), registry.contexts_dir()): print(path)")
    for path in (playbook, infra, config, production, contexts):
        assert Path(path).is_relative_to(installed.venv) and Path(path).exists(), path
    assert (Path(infra) / "conftest.py").is_file()
    assert (Path(config).parent / "roles" / "mqtt_broker" / "tasks" / "main.yml").is_file()


def test_the_build_contexts_are_the_same_as_from_the_checkout(installed: Installed) -> None:
    """Every context hashes alike (contents and executable bits), so an installed xedge builds
    images with the same labels as the checkout. The gateway's carries the installed
    package's own source, and not its packaged project files."""
    files, *digests = installed.python(
        "from xedgesim.images import registry\n"
        "from xedgesim.images.hashing import tree_hash\n"
        "from xedgesim.images.layered import package_source, staged_context\n"
        "contexts = registry.contexts_dir()\n"
        "with staged_context(contexts / 'gateway', package_source()) as staged:\n"
        "    print(sorted(p.relative_to(staged).as_posix() for p in staged.rglob('*.py')))\n"
        "    print(tree_hash(staged))\n"
        "for name in ('base', 'broker', 'edge-host'): print(tree_hash(contexts / name))")
    assert "'xedgesim/services/gateway.py'" in files and "_project" not in files
    with staged_context(contexts_dir() / "gateway", package_source()) as staged:
        ours = [tree_hash(staged)]
    ours += [tree_hash(contexts_dir() / name) for name in ("base", "broker", "edge-host")]
    assert digests == ours


def test_the_setup_hint_names_the_packaged_script(installed: Installed) -> None:
    [hint] = installed.python("from xedgesim.images.errors import SETUP_HINT; print(SETUP_HINT)")
    script = Path(hint.removeprefix("run sudo bash "))
    assert script.is_relative_to(installed.venv) and script.is_file(), hint


def test_the_packaged_infra_suite_collects(installed: Installed) -> None:
    """``xedge verify`` runs pytest on the packaged ``tests/infra``: its conftest and test
    modules import from the installed package, under the checkout's pytest settings (the
    packaged ``pyproject.toml``), not whatever configuration lies above the venv."""
    [root] = installed.python("import xedgesim.project as p; print(p.project_root())")
    done = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-m", "pytest", "tests/infra", "--collect-only",
         "-p", "no:cacheprovider", "--hosts=local://"],
        cwd=root, env=installed.env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"rootdir: {root}" in done.stdout and "configfile: pyproject.toml" in done.stdout
    assert "<Module test_mqtt.py>" in done.stdout and "<Module test_services.py>" in done.stdout
