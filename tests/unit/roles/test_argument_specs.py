"""The argument specs of the roles docker_engine, edge_gateway, health_gate, image_release,
rollback and xedgesim, run by real ansible-playbook on this machine (no device).

The xedgesim role runs for real (``include_role``: Ansible validates its argument specs, then
its own checks run; it touches no device). The device roles' specs are validated the way
Ansible does when such a role starts (``validate_argument_spec`` over the variables of the
host: the role's defaults, the inventory's values), without running their tasks. One host per
case; the JSON callback says which hosts failed, where and why. No password may appear in
anything ansible-playbook prints, whatever is wrong with it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[3]
ROLES = ("docker_engine", "edge_gateway", "health_gate", "image_release", "rollback")
DIGEST = "sha256:" + "ab" * 32
RELEASE = {"id": "r1", "images": {"amd64": {
    "broker": {"tag": "xedgesim/broker:1-amd64", "id": DIGEST, "archive": "/a/broker.tar"},
    "gateway": {"tag": "xedgesim/gateway:1-amd64", "id": DIGEST, "archive": "/a/gw.tar"}}}}
# planted in the cases: none of them may ever be printed
PASSWORDS = ("gw-Secret-41d9", "probe-Secret-77ac", "CHANGE-ME-sekrit-5e01", "listed-Secret-0b3f")
USERS = [{"name": "gateway", "password": PASSWORDS[0]},
         {"name": "probe", "password": PASSWORDS[1]}]

# host -> its variables, for the xedgesim role (run for real)
XEDGESIM_CASES: dict[str, dict[str, Any]] = {
    "x-good": {},
    "x-bad-arch": {"xedgesim_arch": "x86_64"},
    "x-no-arch": {"xedgesim_arch": None},
    "x-bad-profile": {"xedgesim_profile": "staging"},
    "x-no-users": {"xedgesim_mqtt_users": None},
    "x-users-not-a-list": {"xedgesim_mqtt_users": "gateway:" + PASSWORDS[0]},
    "x-user-without-password": {"xedgesim_mqtt_users": [{"name": "gateway"}, USERS[1]]},
    "x-password-of-wrong-type": {"xedgesim_mqtt_users": [
        {"name": "gateway", "password": [PASSWORDS[3]]}, USERS[1]]},
    "x-example-password": {"xedgesim_mqtt_users": [
        {"name": "gateway", "password": PASSWORDS[2]}, USERS[1]]},
    "x-user-twice": {"xedgesim_mqtt_users": [*USERS, USERS[1]]},
    "x-user-with-colon": {"xedgesim_mqtt_users": [*USERS, {"name": "a:b", "password": "p"}]},
    "x-probe-missing": {"xedgesim_mqtt_users": USERS[:1]},
    # rendered from a scenario: its sensors and cloud log in too
    "x-scenario-users-missing": {"xedgesim_scenario": {"name": "s", "sha256": "0" * 64}},
    "x-scenario-users-given": {"xedgesim_scenario": {"name": "s", "sha256": "0" * 64},
                               "xedgesim_mqtt_users": [*USERS, {"name": "sensor", "password": "s1"},
                                                       {"name": "cloud", "password": "c1"}]},
    "x-release-not-a-dict": {"xedgesim_release": "r1"},
    "x-release-bad-id": {"xedgesim_release": {**RELEASE, "images": {"amd64": {
        "broker": {"tag": "t", "id": "latest"}, "gateway": {"tag": "t", "id": DIGEST}}}}},
}
# host -> (role, its variables), validated against the role's spec
ROLE_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    **{f"{role}-defaults": (role, {}) for role in ROLES},
    "docker_engine-wait-soon": ("docker_engine", {"docker_engine_wait_s": "soon"}),
    "docker_engine-packages-str": ("docker_engine", {"docker_engine_packages": {"a": 1}}),
    "edge_gateway-qos-3": ("edge_gateway", {"edge_gateway_qos": 3}),
    "edge_gateway-policy": ("edge_gateway", {"edge_gateway_restart_policy": "sometimes"}),
    "edge_gateway-window": ("edge_gateway", {"xedgesim_gateway_window_s": "ten"}),
    "health_gate-timeout": ("health_gate", {"health_gate_timeout_s": "long"}),
    "health_gate-probe": ("health_gate", {"health_gate_probe": "perhaps"}),
    "image_release-keep": ("image_release", {"image_release_keep_archives": "maybe"}),
    "rollback-earlier": ("rollback", {"rollback_earlier": "r0"}),
}

PLAY = """
- name: The xedgesim role, for real
  hosts: xedgesim_cases
  gather_facts: false
  tasks:
    - name: Run the xedgesim role
      ansible.builtin.include_role:
        name: xedgesim

- name: The device roles' argument specs
  hosts: role_cases
  gather_facts: false
  tasks:
    - name: Validate the role's variables against its argument specs
      ansible.builtin.validate_argument_spec:
        argument_spec: "{{ (lookup('ansible.builtin.file', specs) | from_yaml)
                           .argument_specs.main.options }}"
      vars:
        specs: "{{ roles_dir }}/{{ role_under_test }}/meta/argument_specs.yml"
"""


def defaults(role: str) -> dict[str, Any]:
    return yaml.safe_load((PROJECT / "roles" / role / "defaults" / "main.yml").read_text()) or {}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, playbook: Any) -> dict[str, Any]:
    """{"hosts": host -> {"failed": task or None, "msg": str}, "printed": all output}."""
    work = tmp_path_factory.mktemp("argument_specs")
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    common = {**defaults("xedgesim"), "xedgesim_release": RELEASE, "xedgesim_arch": "amd64",
              "xedgesim_profile": "production", "xedgesim_mqtt_users": USERS,
              "roles_dir": str(PROJECT / "roles"), **local}
    role_hosts = {}
    for host, (role, case) in ROLE_CASES.items():
        role_hosts[host] = {**defaults(role), "role_under_test": role, **case}
    x_hosts = {host: {k: v for k, v in case.items() if v is not None} for host, case in
               XEDGESIM_CASES.items()}
    inventory = {"all": {"vars": common, "children": {
        "xedgesim_cases": {"hosts": x_hosts}, "role_cases": {"hosts": role_hosts}}}}
    for host, case in XEDGESIM_CASES.items():  # a None case value: the variable is absent
        for key in (k for k, v in case.items() if v is None):
            inventory["all"]["children"]["xedgesim_cases"]["hosts"][host][key] = "{{ omit }}"
    hosts, printed = playbook(work, inventory, PLAY)
    return {"hosts": hosts, "printed": printed}


def test_no_password_is_ever_printed(run: dict[str, Any]) -> None:
    shown = [f"password #{index}" for index, password in enumerate(PASSWORDS)
             if password in run["printed"]]
    assert not shown, f"ansible-playbook printed {shown}"


def test_a_well_formed_host_passes(run: dict[str, Any]) -> None:
    good = run["hosts"]["x-good"]
    assert good["failed"] is None, good["msg"]


@pytest.mark.parametrize("host, words", [
    ("x-bad-arch", "xedgesim_arch must be one of: amd64, arm64"),
    ("x-no-arch", "xedgesim_arch"),
    ("x-bad-profile", "xedgesim_profile must be one of: simulation, production"),
    ("x-no-users", "xedgesim_mqtt_users"),
    ("x-users-not-a-list", "xedgesim_mqtt_users"),
    ("x-user-without-password", "password"),
    ("x-release-not-a-dict", "xedgesim_release"),
])
def test_the_xedgesim_roles_specs_stop_a_wrong_host(run: dict[str, Any], host: str,
                                                    words: str) -> None:
    outcome = run["hosts"][host]
    assert outcome["failed"] is not None and "Validating arguments against arg spec" in \
        outcome["failed"], outcome
    assert words in outcome["msg"]


@pytest.mark.parametrize("host, words", [
    ("x-example-password", '["gateway"] still have the example password'),
    ("x-password-of-wrong-type", '["gateway"] have a password that is not a string'),
    ("x-user-twice", "listed once"),
    ("x-user-with-colon", "free of colons"),
    ("x-probe-missing", "must be among them"),
    ("x-scenario-users-missing", '["gateway", "probe", "sensor", "cloud"] must be among them'),
    ("x-release-bad-id", "with sha256 ids"),
])
def test_what_a_type_cannot_say_is_checked_by_the_roles_tasks(run: dict[str, Any], host: str,
                                                              words: str) -> None:
    outcome = run["hosts"][host]
    assert outcome["failed"] is not None and outcome["failed"].startswith("xedgesim : Check"), \
        outcome
    assert words in outcome["msg"]


def test_a_scenarios_users_pass_when_given(run: dict[str, Any]) -> None:
    outcome = run["hosts"]["x-scenario-users-given"]
    assert outcome["failed"] is None, outcome["msg"]


@pytest.mark.parametrize("role", ROLES)
def test_each_roles_defaults_satisfy_its_specs(run: dict[str, Any], role: str) -> None:
    outcome = run["hosts"][f"{role}-defaults"]
    assert outcome["failed"] is None, outcome["msg"]


@pytest.mark.parametrize("host, words", [
    ("docker_engine-wait-soon", "docker_engine_wait_s"),
    ("docker_engine-packages-str", "docker_engine_packages"),
    ("edge_gateway-qos-3", "edge_gateway_qos must be one of: 0, 1, 2"),
    ("edge_gateway-policy", "edge_gateway_restart_policy must be one of"),
    ("edge_gateway-window", "edge_gateway_window_s"),
    ("health_gate-timeout", "health_gate_timeout_s"),
    ("health_gate-probe", "health_gate_probe"),
    ("image_release-keep", "image_release_keep_archives"),
    ("rollback-earlier", "rollback_earlier"),
])
def test_device_roles_refuse_wrong_types_and_choices(run: dict[str, Any], host: str,
                                                     words: str) -> None:
    outcome = run["hosts"][host]
    assert outcome["failed"] == "Validate the role's variables against its argument specs"
    assert words in outcome["msg"]
