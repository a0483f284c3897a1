"""xedgesim/deploy/fleet_view.py: one fleet, opened the same way by every reader — a value set
only in an overlay is the value the commands and the verification suite see."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from xedgesim.deploy import fleet_view, paths
from xedgesim.deploy.errors import UsageError
from xedgesim.deploy.fleet_view import from_env, open_fleet, secrets_for
from xedgesim.deploy.state import StageState

PROJECT = paths.project_root()
ROLE_DEFAULTS = yaml.safe_load((PROJECT / "roles" / "xedgesim" / "defaults" / "main.yml")
                               .read_text())


@pytest.fixture
def fleet_files(tmp_path: Path) -> dict[str, Path]:
    """A one-host inventory (local connection) and an overlay that moves the state directory
    and the broker's TLS port, values the inventory itself does not set."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"edge": {"hosts": {"pi-1": {
        "ansible_connection": "local", "xedgesim_arch": "amd64",
        "mqtt_tls_cert": "c.pem", "mqtt_tls_key": "k.pem", "mqtt_tls_ca": "ca.pem"}}}}))
    overlay = tmp_path / "overlay.yml"
    overlay.write_text(yaml.safe_dump({"edge": {"vars": {
        "xedgesim_state_dir": "/srv/overlaid", "mqtt_broker_tls_port": 9883}}}))
    return {"inventory": inventory, "overlay": overlay}


def test_a_value_set_only_in_an_overlay_is_the_fleets(fleet_files: dict[str, Path]) -> None:
    fleet = open_fleet(fleet_files["inventory"], [fleet_files["overlay"]], project=PROJECT)
    variables = fleet.host("pi-1").vars
    assert variables["xedgesim_state_dir"] == "/srv/overlaid"
    # what verify's smoke test connects to
    endpoint = fleet.host("pi-1").mqtt_endpoint(fleet_files["inventory"].parent)
    assert endpoint.port == 9883 and endpoint.tls
    # what the overlay leaves alone comes from the role, not from a copy of its default
    assert variables["xedgesim_config_dir"] == ROLE_DEFAULTS["xedgesim_config_dir"]
    assert variables["xedgesim_probe_topic"] == ROLE_DEFAULTS["xedgesim_probe_topic"]
    assert fleet.sources == (fleet_files["overlay"], fleet_files["inventory"])


def test_the_inventory_overrides_an_overlay(fleet_files: dict[str, Path]) -> None:
    """ansible-runner gets the overlay first, so the fleet's own inventory wins."""
    data = yaml.safe_load(fleet_files["inventory"].read_text())
    data["edge"]["vars"] = {"xedgesim_state_dir": "/srv/mine"}
    fleet_files["inventory"].write_text(yaml.safe_dump(data))
    fleet = open_fleet(fleet_files["inventory"], [fleet_files["overlay"]], project=PROJECT)
    assert fleet.host("pi-1").vars["xedgesim_state_dir"] == "/srv/mine"


def test_the_production_overlay_is_the_default(fleet_files: dict[str, Path]) -> None:
    fleet = open_fleet(fleet_files["inventory"], project=PROJECT)
    assert fleet.overlays == (PROJECT / "inventories" / "production.yml",)
    assert fleet.host("pi-1").vars["xedgesim_profile"] == "production"


@pytest.mark.slow
def test_the_suite_opens_the_same_fleet(fleet_files: dict[str, Path], tmp_path: Path) -> None:
    release = tmp_path / "release.json"
    secrets = tmp_path / "users.yml"
    opened = open_fleet(fleet_files["inventory"], [fleet_files["overlay"]],
                        release_file=release, secrets=secrets, project=PROJECT)
    env = opened.suite_env()
    again = from_env(fleet_files["inventory"], env, project=PROJECT)
    assert again == opened
    assert from_env(fleet_files["inventory"], {**env, fleet_view.ENV_OVERLAYS: ""},
                    project=PROJECT).overlays == ()
    unset = {key: value for key, value in env.items() if key != fleet_view.ENV_OVERLAYS}
    assert from_env(fleet_files["inventory"], unset, project=PROJECT).overlays == \
        (PROJECT / "inventories" / "production.yml",)


def test_an_inventory_that_breaks_the_contract_is_refused(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("edge:\n  hosts:\n    pi-1: {xedgesim_arch: sparc}\n")
    with pytest.raises(UsageError, match="pi-1: xedgesim_arch is sparc"):
        open_fleet(inventory, [], project=PROJECT)


def test_secrets_of_a_kept_staging_fleet_are_found(tmp_path: Path) -> None:
    run = tmp_path / "stage-1"
    (run / "inventory").mkdir(parents=True)
    (run / "inventory" / "hosts.yml").write_text("")
    StageState(str(run), "id", 2, "amd64", True, secrets=str(run / "secrets" / "m.yml")).save()
    assert secrets_for(run / "inventory" / "hosts.yml", None) == run / "secrets" / "m.yml"
    assert secrets_for(tmp_path / "elsewhere.yml", None) is None
    given = tmp_path / "mine.yml"
    assert secrets_for(run / "inventory" / "hosts.yml", given) == given


PROBE_TEST = """
from xedgesim.deploy.inventory import inventory_dir, mqtt_endpoint


def test_fixtures_read_the_overlay(host, host_vars, fleet):
    assert host_vars["xedgesim_state_dir"] == "/srv/overlaid"
    # where smoke_target connects
    endpoint = mqtt_endpoint(host.backend.get_hostname(), host_vars,
                             inventory_dir(fleet.inventory))
    assert (endpoint.host, endpoint.port) == ("127.0.0.1", 9883)
"""


@pytest.mark.slow
def test_the_infra_suites_fixtures_read_the_overlay(fleet_files: dict[str, Path],
                                                    tmp_path: Path) -> None:
    """The real tests/infra/conftest.py, in its own pytest process as `xedge verify` runs it,
    against a local-connection host: its ``host_vars`` hold the overlay's value."""
    suite = tmp_path / "suite"
    suite.mkdir()
    shutil.copy(paths.infra_tests(PROJECT) / "conftest.py", suite / "conftest.py")
    (suite / "test_probe.py").write_text(PROBE_TEST)
    data = yaml.safe_load(fleet_files["inventory"].read_text())
    data["edge"]["hosts"]["pi-1"]["xedgesim_mqtt_probe_host"] = "127.0.0.1"
    fleet_files["inventory"].write_text(yaml.safe_dump(data))
    fleet = open_fleet(fleet_files["inventory"], [fleet_files["overlay"]], project=PROJECT)
    env = {**os.environ, **fleet.suite_env(),
           "PATH": os.pathsep.join((str(Path(sys.executable).parent), os.environ["PATH"]))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(suite), "-p", "no:cacheprovider", "-q",
         "--hosts=ansible://edge", f"--ansible-inventory={fleet_files['inventory']}"],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout
