"""xedgesim/project.py: which copy of the project files a command uses (the checkout, the
packaged copy, ``$XEDGESIM_PROJECT``), and which files a wheel may carry (tracked ones only,
never caches or a site's untracked secrets)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from xedgesim import project
from xedgesim.deploy import paths
from xedgesim.deploy.errors import UsageError
from xedgesim.images import registry
from xedgesim.images.errors import ImagesError

CHECKOUT = Path(__file__).resolve().parents[2]


def lay_out(root: Path) -> Path:
    """A minimal tree with every SHIPPED entry."""
    for entry in project.SHIPPED:
        if entry in ("ansible.cfg", "pyproject.toml", project.SETUP_SCRIPT):
            (root / entry).parent.mkdir(parents=True, exist_ok=True)
            (root / entry).write_text("# a file\n")
        else:
            (root / entry).mkdir(parents=True, exist_ok=True)
    (root / "playbooks" / "site.yml").write_text("- hosts: edge\n")
    (root / "images" / "base").mkdir()
    (root / "images" / "base" / "packages.txt").write_text("mosquitto\n")
    (root / "tests" / "infra" / "conftest.py").write_text("")
    return root


@pytest.fixture(autouse=True)
def no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(project.ENVIRONMENT, raising=False)
    monkeypatch.delenv("XEDGESIM_IMAGES_DIR", raising=False)


def test_a_checkout_is_used_as_it_is() -> None:
    assert project.project_root() == CHECKOUT


def test_an_installed_package_uses_its_packaged_copy(tmp_path: Path) -> None:
    package = tmp_path / "site-packages" / "xedgesim"
    lay_out(package / project.PACKAGED)
    assert project.project_root(package) == package / project.PACKAGED


def test_the_checkout_wins_over_a_stale_packaged_copy(tmp_path: Path) -> None:
    package = lay_out(tmp_path / "checkout") / "xedgesim"
    lay_out(package / project.PACKAGED)
    assert project.project_root(package) == tmp_path / "checkout"


def test_no_project_files_anywhere_is_one_clear_error(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "site-packages" / "xedgesim"
    package.mkdir(parents=True)
    with pytest.raises(project.ProjectFilesMissing, match="XEDGESIM_PROJECT") as raised:
        project.project_root(package)
    assert str(package / project.PACKAGED) in str(raised.value)


def test_the_environment_overrides_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = lay_out(tmp_path / "mine")
    monkeypatch.setenv(project.ENVIRONMENT, str(mine))
    assert project.project_root() == mine
    assert paths.playbook("site") == mine / "playbooks" / "site.yml"
    assert paths.infra_tests() == mine / "tests" / "infra"
    assert registry.contexts_dir() == mine / "images"


def test_an_empty_override_is_refused_by_every_reader(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(project.ENVIRONMENT, str(tmp_path))
    with pytest.raises(UsageError, match=f"{project.ENVIRONMENT}=.*has none of"):
        paths.project_root()
    with pytest.raises(ImagesError, match=f"{project.ENVIRONMENT}=.*has none of"):
        registry.contexts_dir()


def test_a_partial_override_names_the_missing_file(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "tests" / "infra").mkdir(parents=True)
    monkeypatch.setenv(project.ENVIRONMENT, str(tmp_path))
    with pytest.raises(UsageError, match=r"playbooks/site\.yml is missing"):
        paths.playbook("site")


def test_the_setup_hint_names_the_script_of_the_project_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert project.setup_command() == f"sudo bash {CHECKOUT / 'scripts' / 'setup-host'}"
    mine = lay_out(tmp_path / "mine")
    monkeypatch.setenv(project.ENVIRONMENT, str(mine))
    assert project.setup_command() == f"sudo bash {mine / 'scripts' / 'setup-host'}"
    monkeypatch.setenv(project.ENVIRONMENT, str(tmp_path / "nothing"))
    assert project.setup_command() == "sudo bash scripts/setup-host (in an xedgesim checkout)"


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_only_tracked_files_ship_from_a_git_checkout(tmp_path: Path) -> None:
    root = lay_out(tmp_path / "repo")
    git(root, "init", "-q")
    git(root, "add", "ansible.cfg", "images", "playbooks", "pyproject.toml", "scripts", "tests")
    secret = root / "inventories" / "pis" / "secrets.yml"
    secret.parent.mkdir(parents=True)
    secret.write_text("xedgesim_mqtt_users: [{password: hunter2}]\n")
    (root / "tests" / "infra" / "__pycache__").mkdir()
    (root / "tests" / "infra" / "__pycache__" / "conftest.cpython-311.pyc").write_bytes(b"\0")
    shipped = [path.as_posix() for path in project.shipped_files(root)]
    assert shipped == ["ansible.cfg", "images/base/packages.txt", "playbooks/site.yml",
                       "pyproject.toml", "scripts/setup-host", "tests/infra/conftest.py"]


def test_an_unpacked_sdist_ships_everything_but_caches(tmp_path: Path) -> None:
    root = lay_out(tmp_path / "sdist")
    (root / "roles" / "r" / "tasks").mkdir(parents=True)
    (root / "roles" / "r" / "tasks" / "main.yml").write_text("[]\n")
    (root / "roles" / "r" / "tasks" / "main.yml~").write_text("[]\n")
    (root / "tests" / "infra" / ".pytest_cache").mkdir()
    (root / "tests" / "infra" / ".pytest_cache" / "v").write_text("")
    shipped = {path.as_posix() for path in project.shipped_files(root)}
    assert shipped == {"ansible.cfg", "images/base/packages.txt", "playbooks/site.yml",
                       "pyproject.toml", "roles/r/tasks/main.yml", "scripts/setup-host",
                       "tests/infra/conftest.py"}


def test_the_checkout_ships_what_the_commands_need() -> None:
    shipped = {path.as_posix() for path in project.shipped_files(CHECKOUT)}
    for needed in ("ansible.cfg", "playbooks/site.yml", "playbooks/stage.yml",
                   "tests/infra/conftest.py", "images/base/packages.txt",
                   "images/gateway/Dockerfile", "inventories/production.yml",
                   "inventories/pis/hosts.yml", "scripts/setup-host"):
        assert needed in shipped
    assert not any(path.startswith("xedgesim/") for path in shipped)
