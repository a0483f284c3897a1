"""xedgesim/deploy/deploy.py and the `xedge deploy` command: a digest that never passed
staging is refused before anything runs; outcomes and messages per host."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from xedgesim.cli import main
from xedgesim.deploy import deploy as deploy_module
from xedgesim.deploy import manifest
from xedgesim.deploy.errors import ReleaseRefused, UsageError
from xedgesim.deploy.events import Failure, HostStats
from xedgesim.deploy.inventory import Inventory, InventoryHost
from xedgesim.deploy.release import ImageRef, Release
from xedgesim.deploy.runner import PlaybookResult

STAGED = Release((ImageRef("broker", "amd64", "xedgesim/broker:0.1.0-amd64", "sha256:" + "1" * 64),
                  ImageRef("gateway", "amd64", "xedgesim/gateway:0.1.0-amd64",
                           "sha256:" + "2" * 64)))
TLS = {"mqtt_tls_cert": "/site/tls/edge-1.crt", "mqtt_tls_key": "/site/tls/edge-1.key",
       "mqtt_tls_ca": "/site/tls/ca.crt"}
NEVER_STAGED = Release((STAGED.images[0], ImageRef("gateway", "amd64", "x:broken",
                                                    "sha256:" + "9" * 64)))


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A store vouching for STAGED, a one-host inventory, this machine's images = NEVER_STAGED;
    running a playbook is an error (the refusal must come first)."""
    store = tmp_path / "releases"
    verification = manifest.Verification(True, 30, 0, 0, 0, "verify/junit.xml", True)
    manifest.record(manifest.build(STAGED, verification, stage={}), tmp_path / "s", store)
    fleet = Inventory(tmp_path / "hosts.yml", (InventoryHost("edge-1", {
        "xedgesim_arch": "amd64", **TLS}),))
    (tmp_path / "hosts.yml").write_text("edge: {}\n")
    monkeypatch.setattr("xedgesim.deploy.inventory.load", lambda *a, **k: fleet)
    monkeypatch.setattr("xedgesim.deploy.fleet.connect", lambda: object())
    monkeypatch.setattr("xedgesim.deploy.release.resolve_local",
                        lambda client, arches, overrides=(): NEVER_STAGED)

    def no_playbook(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a playbook ran")

    monkeypatch.setattr(deploy_module, "run_playbook", no_playbook)
    monkeypatch.chdir(tmp_path)
    return {"store": store, "inventory": tmp_path / "hosts.yml", "fleet": fleet}


@pytest.fixture
def vouched(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The world with this machine's images staged, archives saved, and a playbook run that
    is recorded and stops the deploy."""
    monkeypatch.setattr("xedgesim.deploy.release.resolve_local",
                        lambda client, arches, overrides=(): STAGED)
    monkeypatch.setattr("xedgesim.deploy.release.save_archives",
                        lambda *a, **k: {image.id: Path("/run/images/a.tar")
                                         for image in STAGED.images})
    runs: list[Any] = []

    def recorded(run: Any, **kwargs: Any) -> Any:
        runs.append(run)
        raise AssertionError("a playbook ran")

    monkeypatch.setattr(deploy_module, "run_playbook", recorded)
    return {**world, "runs": runs}


def plain_text_fleet(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = Inventory(world["inventory"], (
        InventoryHost("edge-1", {"xedgesim_arch": "amd64", **TLS}),
        InventoryHost("edge-2", {"xedgesim_arch": "amd64"})))
    monkeypatch.setattr("xedgesim.deploy.inventory.load", lambda *a, **k: fleet)


def test_a_fleet_without_certificates_is_refused(vouched: dict[str, Any],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    plain_text_fleet(vouched, monkeypatch)
    monkeypatch.setenv("XEDGESIM_RELEASES", str(vouched["store"]))
    result = CliRunner().invoke(main, ["deploy", "--inventory", str(vouched["inventory"])])
    assert result.exit_code == 2, result.output
    assert "no TLS certificate for the broker of edge-2" in result.output
    assert "--insecure-plaintext" in result.output
    assert vouched["runs"] == [] and not Path("runs").exists()


def test_insecure_plaintext_goes_ahead_loudly_and_is_recorded(
        vouched: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    plain_text_fleet(vouched, monkeypatch)
    said: list[str] = []
    options = deploy_module.DeployOptions(inventory=vouched["inventory"],
                                          store=vouched["store"], out=Path("runs/d"),
                                          insecure_plaintext=True)
    with pytest.raises(AssertionError, match="a playbook ran"):
        deploy_module.deploy(options, say=said.append)
    assert any(line.startswith("INSECURE PLAINTEXT: the brokers of edge-2 ") for line in said)
    assert vouched["runs"][0].extravars["mqtt_broker_insecure_plaintext"] is True
    record = json.loads(Path("runs/d/deploy.json").read_text())
    assert record["insecure_plaintext"] == ["edge-2"]


def test_a_fleet_with_tls_deploys_without_the_insecure_switch(vouched: dict[str, Any]) -> None:
    options = deploy_module.DeployOptions(inventory=vouched["inventory"],
                                          store=vouched["store"], out=Path("runs/d"))
    with pytest.raises(AssertionError, match="a playbook ran"):
        deploy_module.deploy(options, say=lambda text: None)
    assert "mqtt_broker_insecure_plaintext" not in vouched["runs"][0].extravars
    assert json.loads(Path("runs/d/deploy.json").read_text())["insecure_plaintext"] == []


def test_print_ansible_command_writes_release_json_and_runs_nothing(
        vouched: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secrets = tmp_path / "users.yml"
    secrets.write_text("xedgesim_mqtt_users: []\n")
    result = CliRunner().invoke(main, ["deploy",
        "--inventory", str(vouched["inventory"]), "--releases", str(vouched["store"]),
        "--out", "runs/p", "--secrets", str(secrets), "--serial", "1,1",
        "--print-ansible-command"])
    assert result.exit_code == 0, result.output
    assert vouched["runs"] == []
    document = json.loads(Path("runs/p/release.json").read_text())
    assert document["xedgesim_release"]["id"] == STAGED.id
    assert document["xedgesim_release"]["images"]["amd64"]["broker"]["archive"] == \
        "/run/images/a.tar"
    assert document["xedgesim_serial"] == [1, 1]
    command = result.output.strip().splitlines()[-1]
    assert "ansible-playbook -i " in command and "playbooks/site.yml" in command
    assert f"-e @{Path('runs/p/release.json').resolve()}" in command
    assert f"-e @{secrets.resolve()}" in command
    assert "ANSIBLE_CONFIG=" in command


def test_deploy_refuses_a_digest_that_never_passed_staging(world: dict[str, Any]) -> None:
    options = deploy_module.DeployOptions(inventory=world["inventory"], store=world["store"])
    with pytest.raises(ReleaseRefused, match="never passed staging"):
        deploy_module.deploy(options, say=lambda text: None)
    assert not (Path("runs")).exists()  # refused before a run directory was made


def test_the_command_exits_2_and_says_why(world: dict[str, Any],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XEDGESIM_RELEASES", str(world["store"]))
    result = CliRunner().invoke(main, ["deploy", "--inventory", str(world["inventory"])])
    assert result.exit_code == 2
    assert "refusing to deploy images that no passing `xedge stage` vouches for" in \
        result.output
    assert "sha256:" + "9" * 64 in result.output and "--force" in result.output


def test_force_goes_ahead_and_says_so_loudly(world: dict[str, Any],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    said: list[str] = []
    monkeypatch.setattr("xedgesim.deploy.release.save_archives", lambda *a, **k: {})
    monkeypatch.setattr(deploy_module.paths, "playbook", lambda name, root=None: Path("x.yml"))
    options = deploy_module.DeployOptions(inventory=world["inventory"], store=world["store"],
                                          force=True, out=Path("runs/d"))
    with pytest.raises(AssertionError, match="a playbook ran"):
        deploy_module.deploy(options, say=said.append)
    assert any(line.startswith("FORCED: deploying images") for line in said)
    record = json.loads(Path("runs/d/deploy.json").read_text())
    assert record["forced"] is True and record["release"] == NEVER_STAGED.id


def test_parse_serial() -> None:
    assert deploy_module.parse_serial("1,50%") == [1, "50%"]
    assert deploy_module.parse_serial(" 2 , 100% ") == [2, "100%"]
    for bad in ("0", "1,abc", "150%", ""):
        with pytest.raises(UsageError):
            deploy_module.parse_serial(bad)


def failed_rollout() -> PlaybookResult:
    """A canary whose gate failed and that site.yml rolled back; its message is worded
    nothing like the outcome, which comes from the published data alone."""
    return PlaybookResult(
        name="deploy", playbook=Path("site.yml"), status="failed", rc=2,
        hosts={"edge-1": HostStats(ok=65, changed=11, failed=1, rescued=1)},
        failures=(Failure("edge-1", "health_gate : gate", "gateway unhealthy"),
                  Failure("edge-1", "Stop the deployment", "edge-1 failed at gate")),
        changes=(), artifact_dir=Path("/run/a"), seconds=1.0,
        published={"xedgesim_outcomes": {"edge-1": {
            "outcome": "rolled_back", "failure": "gate: gateway unhealthy",
            "rollback_failure": None, "rolled_back_to": "r1"}}})


def test_outcomes_per_host_and_the_failure_message() -> None:
    result = failed_rollout()
    outcomes, details = deploy_module.host_outcomes(result, ["edge-1", "edge-2", "edge-3"],
                                                    False)
    assert outcomes == {"edge-1": "rolled_back", "edge-2": "not_reached",
                        "edge-3": "not_reached"}
    assert details == {"edge-1": {"outcome": "rolled_back", "failure": "gate: gateway unhealthy",
                                  "rolled_back_to": "r1"}}
    outcome = deploy_module.DeployOutcome(Path("/run"), STAGED, {}, False, result, outcomes,
                                          details, budget_spent=True)
    message = deploy_module.failure_message(outcome)
    assert "edge-1: failed; rolled back to release r1" in message
    assert "health_gate : gate · gateway unhealthy" in message
    assert "failure budget spent: 1 failed, 0 allowed" in message
    assert "left on their previous release: edge-2, edge-3" in message
    table = deploy_module.outcome_table(outcome)
    assert "edge-1  failed; rolled back" in table


def test_the_recap_overrides_published_success_and_fills_in_silent_hosts() -> None:
    """Unreachable beats any data; a host that published success and failed later (its
    tidy-up) failed; a host that failed before publishing anything failed."""
    result = dataclasses.replace(failed_rollout(), hosts={
        "a": HostStats(ok=3, unreachable=1), "b": HostStats(ok=9, failed=1),
        "c": HostStats(ok=1, failed=1), "d": HostStats(ok=9, changed=2)}, published={
        "xedgesim_outcomes": {"a": {"outcome": "updated"}, "b": {"outcome": "updated"},
                              "d": {"outcome": "updated"}}})
    outcomes, _ = deploy_module.host_outcomes(result, ["a", "b", "c", "d"], False)
    assert outcomes == {"a": "unreachable", "b": "failed", "c": "failed", "d": "updated"}
    checked, _ = deploy_module.host_outcomes(result, ["d"], True)
    assert checked == {"d": "would_change"}
