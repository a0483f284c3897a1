"""roles/mqtt_broker: its argument specs and checks, run by real ansible-playbook on this machine
(no device: only the checks and the ACL template run, against a temporary directory).

One playbook run, one host per case: each host's variables are the case, and the JSON callback
says which hosts failed, at which task, with which message.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[3]
TLS = {"mqtt_tls_cert": "/site/tls/pi.crt", "mqtt_tls_key": "/site/tls/pi.key",
       "mqtt_tls_ca": "/site/tls/ca.crt"}
GOOD_ACL = [{"user": "gateway", "read": ["site/+/temp"], "write": ["agg/pi-1"]},
            {"user": "upstream", "read": ["agg/#"]}, {"user": "sensor", "write": ["#"]}]

CASES: dict[str, dict[str, Any]] = {
    "pi-good": {**TLS, "mqtt_broker_acl": GOOD_ACL},
    "pi-insecure": {"mqtt_broker_insecure_plaintext": True, "mqtt_broker_acl": GOOD_ACL},
    "pi-no-tls": {"mqtt_broker_acl": GOOD_ACL},
    "pi-cert-without-key": {"mqtt_tls_cert": "/site/tls/pi.crt", "mqtt_broker_acl": []},
    "pi#all": {**TLS, "mqtt_broker_acl": []},
    "pi-user-newline": {**TLS, "mqtt_broker_acl": [
        {"user": "gateway\ntopic readwrite #", "read": ["a"]}]},
    "pi-user-hash": {**TLS, "mqtt_broker_acl": [{"user": "#gateway", "read": ["a"]}]},
    "pi-topic-newline": {**TLS, "mqtt_broker_acl": [
        {"user": "gateway", "read": ["agg/x\nuser upstream"]}]},
    "pi-topic-trailing-newline": {**TLS, "mqtt_broker_acl": [
        {"user": "gateway", "read": ["agg/x\n"]}]},
    "pi-topic-inner-hash": {**TLS, "mqtt_broker_acl": [{"user": "u", "read": ["agg/#/x"]}]},
    "pi-topic-partial-plus": {**TLS, "mqtt_broker_acl": [{"user": "u", "read": ["agg/a+"]}]},
    "pi-bad-profile": {**TLS, "mqtt_broker_profile": "staging"},
    "pi-bad-policy": {**TLS, "mqtt_broker_restart_policy": "sometimes"},
    "pi-acl-not-a-list": {**TLS, "mqtt_broker_acl": "gateway"},
    "pi-acl-entry-without-user": {**TLS, "mqtt_broker_acl": [{"read": ["a"]}]},
}

PLAY = """
- name: The mqtt_broker role's checks
  hosts: cases
  gather_facts: false
  tasks:
    - name: Validate the role's arguments against its argument specs
      ansible.builtin.validate_argument_spec:
        argument_spec: "{{ (lookup('ansible.builtin.file', specs) | from_yaml)
                           .argument_specs.main.options }}"
        provided_arguments: "{{ dict(names | zip(q('ansible.builtin.vars', *names))) }}"
      vars:
        specs: "{{ roles_dir }}/mqtt_broker/meta/argument_specs.yml"
        names: "{{ q('ansible.builtin.varnames', '^mqtt_broker_') }}"

    - name: The role's own checks
      ansible.builtin.include_role:
        name: mqtt_broker
        tasks_from: validate

    - name: Render the ACL
      ansible.builtin.template:
        src: "{{ roles_dir }}/mqtt_broker/templates/acl.j2"
        dest: "{{ out_dir }}/{{ inventory_hostname | hash('sha1') }}.acl"
        mode: "0600"
"""


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory,
             playbook: Any) -> dict[str, dict[str, Any]]:
    """host -> {"failed": task name or None, "msg": its message, "acl": the rendered ACL}."""
    work = tmp_path_factory.mktemp("mqtt_broker")
    hosts = {name: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                    "xedgesim_profile": "production", **case} for name, case in CASES.items()}
    defaults = yaml.safe_load((PROJECT / "roles/xedgesim/defaults/main.yml").read_text())
    inventory = {"cases": {"hosts": hosts, "vars": {
        **{k: v for k, v in defaults.items() if not k.startswith("xedgesim_release")},
        "xedgesim_release": {"id": "r1", "images": {"amd64": {"broker": {"id": "sha256:x"}}}},
        "xedgesim_arch": "amd64", "roles_dir": str(PROJECT / "roles"), "out_dir": str(work)}}}
    hosts, _ = playbook(work, inventory, PLAY)
    found = {name: hosts.get(name, {"failed": None, "msg": ""}) for name in CASES}
    for name in CASES:
        rendered = work / f"{hashlib.sha1(name.encode()).hexdigest()}.acl"
        found[name]["acl"] = rendered.read_text() if rendered.is_file() else None
    return found


def test_a_well_formed_production_broker_passes(outcomes: dict[str, dict[str, Any]]) -> None:
    good = outcomes["pi-good"]
    assert good["failed"] is None, good["msg"]
    lines = [line for line in good["acl"].splitlines() if line and not line.startswith("#")]
    assert lines == ["user gateway", "topic read site/+/temp", "topic write agg/pi-1",
                     "user upstream", "topic read agg/#", "user sensor", "topic write #"]


def test_production_needs_tls_or_an_explicit_insecure_flag(
        outcomes: dict[str, dict[str, Any]]) -> None:
    assert outcomes["pi-insecure"]["failed"] is None, outcomes["pi-insecure"]["msg"]
    assert "no TLS certificate" in outcomes["pi-no-tls"]["msg"]
    assert "mqtt_tls_key is not" in outcomes["pi-cert-without-key"]["msg"]


@pytest.mark.parametrize("host, words", [
    ("pi#all", "the host name"),
    ("pi-user-newline", "may not hold white space"),
    ("pi-user-hash", "may not hold white space"),
    ("pi-topic-newline", "is not a topic filter"),
    ("pi-topic-trailing-newline", "is not a topic filter"),
    ("pi-topic-inner-hash", "is not a topic filter"),
    ("pi-topic-partial-plus", "is not a topic filter"),
])
def test_names_and_topics_cannot_add_acl_lines(outcomes: dict[str, dict[str, Any]], host: str,
                                               words: str) -> None:
    outcome = outcomes[host]
    assert outcome["failed"].endswith("Check the ACL's users and topics, and the host name "
                                      "its topics are made of")
    assert words in outcome["msg"]
    assert outcome["acl"] is None  # stopped before anything was written


@pytest.mark.parametrize("host, words", [
    ("pi-bad-profile", "mqtt_broker_profile"), ("pi-bad-policy", "mqtt_broker_restart_policy"),
    ("pi-acl-not-a-list", "mqtt_broker_acl"), ("pi-acl-entry-without-user", "user"),
])
def test_argument_specs_refuse_wrong_types_and_choices(outcomes: dict[str, dict[str, Any]],
                                                       host: str, words: str) -> None:
    outcome = outcomes[host]
    assert outcome["failed"] == "Validate the role's arguments against its argument specs"
    assert words in outcome["msg"]
