"""The rollout of xedgesim/deploy/deploy.py run for real: ansible-playbook runs the project's
own ``playbooks/site.yml`` and ``rollback.yml`` against local hosts (``connection: local``),
with the roles they call replaced by stubs that fail on demand. Each host's outcome comes from
the data site.yml publishes (``set_stats``), so renaming its tasks changes nothing; the failure
budget counts failed hosts across batches.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from xedgesim.deploy import deploy as deploy_module
from xedgesim.deploy.deploy import (
    OUTCOMES,
    DeployOptions,
    DeployOutcome,
    FailureBudget,
    rollout,
)
from xedgesim.deploy.errors import UsageError
from xedgesim.deploy.events import HostStats
from xedgesim.deploy.release import Release
from xedgesim.deploy.runner import PlaybookResult, PlaybookRun, run_playbook

PROJECT = Path(__file__).resolve().parents[3]
NO_BUDGET = FailureBudget()
# stand-ins for the roles site.yml and rollback.yml call: no device, no Docker
STUB_ROLES = {
    "xedgesim": {"main": [], "arch": [], "users": []},
    "docker_engine": {"main": []},
    "mqtt_broker": {"main": []},
    "edge_gateway": {"main": []},
    "image_release": {
        "main": [{"name": "Stub the release's images", "ansible.builtin.set_fact": {
            "image_release_changed": "{{ stub_changed | default(true) | bool }}",
            "image_release_before": {"id": "r-before"}}}],
        "record": [],
        "prune": [],
    },
    "health_gate": {"main": [{"name": "Stub the health gate", "ansible.builtin.fail": {
        "msg": "stub: the gateway is not healthy"},
        "when": "stub_unhealthy | default(false) | bool"}]},
    "rollback": {"main": [{"name": "Stub the rollback", "ansible.builtin.fail": {
        "msg": "stub: rollback failed"},
        "when": "stub_rollback_fails | default(false) | bool"}]},
}


def make_project(root: Path, rename: bool = False) -> Path:
    """A copy of the project's playbooks with stub roles; ``rename`` renames every task
    and play of site.yml (what a text match on wording would trip over)."""
    (root / "playbooks").mkdir(parents=True)
    for name in ("site", "rollback"):
        text = (PROJECT / "playbooks" / f"{name}.yml").read_text()
        if rename:
            text = text.replace("- name: ", "- name: Renamed ")
        (root / "playbooks" / f"{name}.yml").write_text(text)
    for role, files in STUB_ROLES.items():
        tasks = root / "roles" / role / "tasks"
        tasks.mkdir(parents=True)
        for name, content in files.items():
            (tasks / f"{name}.yml").write_text(yaml.safe_dump(content or [
                {"name": f"Stub {role} {name}", "ansible.builtin.meta": "noop"}]))
    shutil.copy(PROJECT / "ansible.cfg", root / "ansible.cfg")
    return root


def make_inventory(path: Path, hosts: dict[str, dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"edge": {"hosts": hosts, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}))
    return path


def run_rollout(tmp_path: Path, hosts: dict[str, dict[str, Any]], serial: list[int | str],
                budget: FailureBudget = NO_BUDGET, rollback_on_abort: bool = False,
                rename: bool = False) -> tuple[DeployOutcome, list[str]]:
    project = make_project(tmp_path / "project", rename=rename)
    inventory = make_inventory(tmp_path / "hosts.yml", hosts)
    run_dir = tmp_path / "run"
    options = DeployOptions(inventory=inventory, serial=serial, max_fail=budget,
                            rollback_on_abort=rollback_on_abort)
    outcome = DeployOutcome(run_dir, Release(()), {}, False)
    outcome.budget = budget.allowed(len(hosts))
    ran: list[str] = []

    def run(playbook: str, name: str, limit: list[str], variables: dict[str, Any]) -> Any:
        ran.append(f"{playbook}:{','.join(limit)}")
        return run_playbook(PlaybookRun(
            playbook=project / "playbooks" / f"{playbook}.yml", inventories=(inventory,),
            run_dir=run_dir, name=name, extravars=variables, limit=",".join(limit),
            project_dir=project))

    rollout(outcome, list(hosts), options, {}, run, lambda text: None)
    return outcome, ran


@pytest.mark.parametrize("rename", [False, True], ids=["as-is", "tasks-renamed"])
def test_outcomes_come_from_published_data_whatever_the_tasks_are_called(
        tmp_path: Path, rename: bool) -> None:
    outcome, ran = run_rollout(tmp_path, {
        "edge-1": {}, "edge-2": {"stub_changed": False},
        "edge-3": {"stub_unhealthy": True}, "edge-4": {}}, serial=[2, 1],
        rename=rename)
    assert outcome.outcomes == {"edge-1": "updated", "edge-2": "unchanged",
                                "edge-3": "rolled_back", "edge-4": "not_reached"}
    assert outcome.details["edge-3"]["rolled_back_to"] == "r-before"
    assert "stub: the gateway is not healthy" in outcome.details["edge-3"]["failure"]
    assert outcome.budget_spent and ran == ["site:edge-1,edge-2", "site:edge-3"]
    message = deploy_module.failure_message(outcome)
    assert "edge-3: failed; rolled back to release r-before" in message
    assert "left on their previous release: edge-4" in message


def test_a_failed_rollback_and_a_failure_before_any_change_are_told_apart(
        tmp_path: Path) -> None:
    outcome, _ = run_rollout(tmp_path, {
        "edge-1": {"stub_unhealthy": True, "stub_rollback_fails": True},
        "edge-2": {"stub_unhealthy": True, "stub_changed": False}}, serial=[2],
        budget=FailureBudget(count=5))
    assert outcome.outcomes == {"edge-1": "rollback_failed", "edge-2": "failed_unchanged"}
    assert "stub: rollback failed" in outcome.details["edge-1"]["rollback_failure"]
    assert not outcome.budget_spent and not outcome.passed


def test_the_budget_spans_batches_and_the_updated_hosts_are_rolled_back_on_abort(
        tmp_path: Path) -> None:
    """One failure is within a budget of 1 (a third of 5 hosts); the second, two batches
    later, spends it: the rollout stops and the two hosts it updated are rolled back."""
    outcome, ran = run_rollout(tmp_path, {
        "edge-1": {}, "edge-2": {"stub_unhealthy": True}, "edge-3": {},
        "edge-4": {"stub_unhealthy": True}, "edge-5": {}}, serial=[1],
        budget=FailureBudget(percent=33), rollback_on_abort=True)
    assert ran == ["site:edge-1", "site:edge-2", "site:edge-3", "site:edge-4",
                   "rollback:edge-1,edge-3"]
    assert outcome.outcomes == {
        "edge-1": "rolled_back_on_abort", "edge-2": "rolled_back",
        "edge-3": "rolled_back_on_abort", "edge-4": "rolled_back", "edge-5": "not_reached"}
    assert outcome.budget_spent and outcome.failed_hosts == ["edge-2", "edge-4"]
    assert "failure budget spent: 2 failed, 1 allowed" in deploy_module.failure_message(outcome)


def test_the_published_codes_are_all_in_the_table() -> None:
    site = (PROJECT / "playbooks" / "site.yml").read_text()
    published = {"updated", "unchanged", "rolled_back", "rollback_failed",
                 "failed_no_earlier_release", "failed_unchanged"}
    assert all(f"'{code}'" in site for code in published)
    assert published <= set(OUTCOMES)


def test_max_fail_is_a_count_or_a_share_rounded_down() -> None:
    assert deploy_module.parse_max_fail("0") == FailureBudget()
    assert deploy_module.parse_max_fail("3").allowed(200) == 3
    assert deploy_module.parse_max_fail("10%").allowed(200) == 20
    assert deploy_module.parse_max_fail("10%").allowed(19) == 1
    assert deploy_module.parse_max_fail("10%").allowed(9) == 0
    assert deploy_module.parse_max_fail("100%").allowed(7) == 7
    for bad in ("", "-1", "1.5", "abc", "101%", "%", "9999999"):
        with pytest.raises(UsageError, match="--max-fail"):
            deploy_module.parse_max_fail(bad)


def test_batches_follow_ansible_serial() -> None:
    hosts = [f"h{i}" for i in range(7)]
    assert deploy_module.batches(hosts, [1, "50%"]) == [
        ["h0"], ["h1", "h2", "h3"], ["h4", "h5", "h6"]]
    assert deploy_module.batches(hosts, [2, 10]) == [["h0", "h1"], hosts[2:]]
    assert deploy_module.batches(hosts, ["10%"]) == [[h] for h in hosts]  # at least 1
    assert deploy_module.batches([], [1]) == []


def test_the_budget_is_checked_after_every_batch_without_running_ansible(
        tmp_path: Path) -> None:
    """rollout() with a fake run: a budget of 1 lets the first failure through and stops
    at the second; hosts are counted once each across batches."""
    published = {"a": "updated", "b": "rolled_back", "c": "updated", "d": "rolled_back",
                 "e": "updated"}
    ran: list[list[str]] = []

    def run(playbook: str, name: str, limit: list[str], variables: dict[str, Any]) -> Any:
        ran.append(limit)
        assert variables["xedgesim_max_fail_percentage"] == 100
        return PlaybookResult(
            name, Path("site.yml"), "failed" if any(published[h] != "updated" for h in limit)
            else "successful", 0, {h: HostStats(ok=1, failed=int(published[h] != "updated"))
                                   for h in limit}, (), (), tmp_path / name / "artifacts",
            1.0, published={"xedgesim_outcomes": {h: {"outcome": published[h]}
                                                  for h in limit}})

    outcome = DeployOutcome(tmp_path, Release(()), {}, False, budget=1)
    options = DeployOptions(inventory=tmp_path, serial=[1, 2])
    rollout(outcome, list(published), options, {}, run, lambda text: None)
    assert ran == [["a"], ["b", "c"], ["d", "e"]]
    assert outcome.budget_spent and outcome.failed_hosts == ["b", "d"]
    assert outcome.playbook is not None and set(outcome.playbook.hosts) == set(published)


def test_a_run_that_reaches_no_host_stops_the_rollout(tmp_path: Path) -> None:
    """A broken run (no recap: a bad inventory, a syntax error) stops the rollout instead of
    trying every later batch the same way; the hosts updated before are rolled back."""
    ran: list[str] = []

    def run(playbook: str, name: str, limit: list[str], variables: dict[str, Any]) -> Any:
        ran.append(f"{playbook}:{','.join(limit)}")
        ok = playbook == "rollback" or limit == ["a"]
        return PlaybookResult(
            name, Path(f"{playbook}.yml"), "successful" if ok else "failed", 0 if ok else 4,
            {h: HostStats(ok=1) for h in limit} if ok else {}, (), (),
            tmp_path / name / "artifacts", 1.0, output_tail="ERROR! no such inventory",
            published={"xedgesim_outcomes": {"a": {"outcome": "updated"}}} if ok else {})

    outcome = DeployOutcome(tmp_path, Release(()), {}, False)
    options = DeployOptions(inventory=tmp_path, serial=[1], rollback_on_abort=True)
    rollout(outcome, ["a", "b", "c"], options, {}, run, lambda text: None)
    assert ran == ["site:a", "site:b", "rollback:a"]
    assert outcome.outcomes == {"a": "rolled_back_on_abort", "b": "not_reached",
                                "c": "not_reached"}
    assert not outcome.passed and not outcome.budget_spent
    assert "no such inventory" in deploy_module.failure_message(outcome)
