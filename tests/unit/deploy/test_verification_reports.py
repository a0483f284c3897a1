"""A leaked secret found by the verification suite is reported by *where* it is, never by
value: the real ``tests/infra/test_secrets.py`` runs through ``verification.run_suite`` (the
path of ``xedge verify``) against a device faked in a conftest, with a password planted in a
container's command line, and neither the JUnit report nor the pytest log may hold it."""

from __future__ import annotations

import importlib
import shlex
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from xedgesim.deploy import paths, verification
from xedgesim.deploy.fleet_view import FleetView

pytestmark = pytest.mark.slow

PASSWORD = "planted-Pa55word-7f3e9c"  # the secret the reports must not show

FAKE_DEVICE = f'''
from types import SimpleNamespace

import pytest

from xedgesim.deploy.device import Inspection, Variables
from xedgesim.deploy.secrets import MqttUser


def container(name, cmd):  # what device.the_service gives the real conftest's fixtures
    env = ["XEDGESIM_PASSWORD_FILE=/run/secrets/p"]
    return Inspection({{"Name": "/" + name, "Config": {{"Env": env, "Cmd": cmd, "Labels": {{}}}},
                       "Path": cmd[0], "Args": cmd[1:], "Mounts": []}})


class Host:
    """Every directory exists; ``find`` finds a world-readable password file."""

    def file(self, path):
        return SimpleNamespace(is_directory=True)

    def check_output(self, command, *args):
        return "/etc/xedgesim/gateway/mqtt-password\\n" if command.startswith("find") else ""


@pytest.fixture(scope="module")
def host():
    return Host()


@pytest.fixture(scope="module")
def host_vars():  # what the real conftest gives: the inventory's variables, vault included
    return Variables({{"xedgesim_config_dir": "/etc/xedgesim", "xedgesim_state_dir": "/var/lib/x",
                      "xedgesim_mqtt_users": [{{"name": "gateway", "password": "{PASSWORD}"}}]}})


@pytest.fixture(scope="module")
def broker():
    return container("xedgesim-broker", ["mosquitto", "-c", "/mosquitto/config/x.conf"])


@pytest.fixture(scope="module")
def gateway():
    return container("xedgesim-gateway", ["xedgesim-gateway", "--password", "{PASSWORD}"])


@pytest.fixture(scope="session")
def mqtt_users():
    return [MqttUser("gateway", "{PASSWORD}"), MqttUser("probe", "another-one-0a1b2c3d")]
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout whose ``tests/infra`` is the real ``test_secrets.py`` and a fake device."""
    root = tmp_path / "project"
    suite = root / "tests" / "infra"
    suite.mkdir(parents=True)
    shutil.copy(paths.infra_tests() / "test_secrets.py", suite / "test_secrets.py")
    (suite / "conftest.py").write_text(FAKE_DEVICE)
    for entry in ("images", "inventories", "playbooks", "roles"):  # laid out like a checkout
        (root / entry).mkdir()
    (root / "ansible.cfg").write_text("[defaults]\n")
    (root / "inventory.yml").write_text("edge:\n  hosts:\n    edge-1: {}\n")
    monkeypatch.setenv("XEDGESIM_PROJECT", str(root))
    return root


# --tb=short is what `xedge verify` uses; a long traceback shows the test's arguments, -l its
# local variables
@pytest.mark.parametrize("traceback", ["--tb=short", "--tb=long", "--showlocals"])
def test_a_leaked_password_is_reported_by_place_not_value(project: Path, tmp_path: Path,
                                                          traceback: str) -> None:
    out = tmp_path / "verify"
    result = verification.run_suite(
        FleetView(project / "inventory.yml", (), ()), out, say=lambda line: None,
        extra_args=["-k", "test_no_password_in_container_configuration or "
                    "test_no_world_readable_secrets", traceback])
    assert not result.passed and result.failures == 2
    reports = {"junit.xml": result.junit.read_text(), "pytest.log": result.log.read_text(),
               "the failure lines": "\n".join(result.failed)}
    # booleans only: a failing assertion here must not print the reports (they may hold it)
    leaked = [name for name, text in reports.items() if PASSWORD in text]
    assert not leaked, f"the planted password is in {leaked}"
    places = ("xedgesim-gateway shows the password of 'gateway' in Args; the password of "
              "'gateway' in Config.Cmd", "world-readable secrets: "
              "['/etc/xedgesim/gateway/mqtt-password']")
    unnamed = [f"{name}: {place}" for name in ("junit.xml", "pytest.log") for place in places
               if place not in reports[name]]
    assert not unnamed, f"the reports do not say where the password leaked: {unnamed}"


class RecordingHost:
    """A testinfra host whose every directory exists and whose commands are recorded."""

    def __init__(self) -> None:
        self.commands: list[str] = []

    def file(self, path: str) -> SimpleNamespace:
        return SimpleNamespace(is_directory=True)

    def check_output(self, command: str, *args: str) -> str:
        self.commands.append(command % tuple(shlex.quote(a) for a in args))
        return ""


def test_inventory_directories_reach_the_shell_quoted() -> None:
    """An inventory value is one argument of ``find``, whatever it holds."""
    suite = importlib.import_module("tests.infra.test_secrets")
    host = RecordingHost()
    hostile = "/etc/xedgesim; touch /tmp/pwned #"
    host_vars = {"xedgesim_config_dir": hostile, "xedgesim_state_dir": "/var/lib/xedgesim"}
    suite.test_no_world_readable_secrets(host, host_vars, {"Mounts": []}, {"Mounts": []})
    words = shlex.split(host.commands[0])
    assert words[0] == "find" and hostile in words and "touch" not in words


def test_a_relative_inventory_directory_is_refused() -> None:
    suite = importlib.import_module("tests.infra.test_secrets")
    host = RecordingHost()
    with pytest.raises(AssertionError, match="not absolute"):
        host_vars = {"xedgesim_config_dir": "/etc/xedgesim", "xedgesim_state_dir": "-delete"}
        suite.test_no_world_readable_secrets(host, host_vars, {"Mounts": []}, {"Mounts": []})
    assert host.commands == []
