"""`xedge stage --hosts 1 --scenario scenarios/fleet_parity.yaml`: the services' settings are
rendered from the scenario, converged, and the verification suite finds the scenario's own
values on the device (the gateway's window, topics and QoS; the broker's ACL)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from xedgesim.deploy import commands, paths, scenario_config, secrets, state
from xedgesim.scenario import load_scenario

pytestmark = pytest.mark.e2e

SCENARIO = paths.project_root() / "scenarios" / "fleet_parity.yaml"
# the checks of tests/infra/test_config.py that must have run (not skipped) and passed
RENDERED_CHECKS = ("test_gateway_runs_the_fleets_settings", "test_broker_acl_is_the_fleets",
                   "test_gateway_runs_the_scenarios_settings")


def outcomes(junit: Path) -> dict[str, str]:
    """testcase name -> passed | failed | skipped."""
    found = {}
    for case in ET.parse(junit).iter("testcase"):
        kinds = {child.tag for child in case}
        found[case.get("name", "")] = ("failed" if kinds & {"failure", "error"} else
                                       "skipped" if "skipped" in kinds else "passed")
    return found


def test_stage_renders_and_verifies_the_scenarios_settings(images: Any, run_xedge: Any,
                                                           store: Path,
                                                           tmp_path: Path) -> None:
    run_dir = tmp_path / "stage"
    result = run_xedge(commands.stage, ["--hosts", "1", "--scenario", str(SCENARIO),
                                        "--out", str(run_dir), "--no-progress"])
    plan = scenario_config.plan(load_scenario(SCENARIO), ["edge-1"])
    site = plan.site("edge-1")
    assert ("edge-1: broker broker, gateway gw1 subscribes site/+/temp (qos 1), every 5s -> "
            "agg/gw1") in result.output
    for step in ("[converge] passed", "[idempotence] passed", "[verify] passed"):
        assert step in result.output

    # the overlay the playbooks and the suite read holds what the scenario renders
    recorded = state.load(run_dir)
    overlay = run_dir / "scenario" / "fleet-vars.yml"
    assert str(overlay) in recorded.overlays
    assert yaml.safe_load(overlay.read_text()) == plan.overlay()
    assert site.role_vars["xedgesim_gateway_window_s"] == 5  # the scenario's, not the 10 s default

    # the suite checked the device against them, and none of those checks was skipped
    junit = run_dir / (recorded.results.get("verify") or {}).get("junit", "verify/junit.xml")
    found = outcomes(junit)
    for check in RENDERED_CHECKS:
        ran = {name: outcome for name, outcome in found.items() if name.startswith(check)}
        assert ran and set(ran.values()) == {"passed"}, f"{check}: {ran}"

    # the scenario's sensors and cloud have their own logins, stored like the others
    users = {user.name: user for user in secrets.load_users(Path(recorded.secrets or ""))}
    assert {plan.sensor_user, plan.cloud_user} <= set(users)
    for user in users.values():
        assert user.password not in result.output
        assert user.password not in overlay.read_text()

    assert result.exit_code == 0
    document = json.loads((run_dir / "manifest.json").read_text())
    assert document["scenario"]["sha256"] == plan.sha256
    assert "parity" in document
