"""xedgesim/deploy/inventory.py: the staging inventory written, any inventory read."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from xedgesim.deploy.errors import UsageError
from xedgesim.deploy.inventory import (
    MqttEndpoint,
    StagingHost,
    from_listing,
    inventory_dir,
    load,
    mqtt_endpoint,
    write_staging,
)

PROJECT = Path(__file__).resolve().parents[3]


def test_staging_inventory_follows_the_contract(tmp_path: Path) -> None:
    path = write_staging(tmp_path / "inventory" / "hosts.yml",
                         [StagingHost("edge-1", 32001, 32002, "arm64")],
                         Path("/run/ssh/id_ed25519"), Path("/run/ssh/known_hosts"))
    host = yaml.safe_load(path.read_text())["all"]["children"]["edge"]["hosts"]["edge-1"]
    assert host["ansible_host"] == "127.0.0.1" and host["ansible_port"] == 32001
    assert host["ansible_user"] == "root"
    assert host["ansible_ssh_private_key_file"] == "/run/ssh/id_ed25519"
    assert host["xedgesim_arch"] == "arm64"
    assert (host["xedgesim_mqtt_probe_host"], host["xedgesim_mqtt_probe_port"]) == \
        ("127.0.0.1", 32002)
    args = host["ansible_ssh_common_args"]
    assert "UserKnownHostsFile=/run/ssh/known_hosts" in args
    assert "StrictHostKeyChecking=yes" in args and "IdentitiesOnly=yes" in args
    assert "xedgesim_arch_emulated" not in host


def test_emulated_hosts_say_so(tmp_path: Path) -> None:
    path = write_staging(tmp_path / "hosts.yml",
                         [StagingHost("edge-1", 1, 2, "arm64", emulated=True)],
                         Path("/k"), Path("/kh"))
    host = yaml.safe_load(path.read_text())["all"]["children"]["edge"]["hosts"]["edge-1"]
    assert host["xedgesim_arch_emulated"] is True


def test_listing_walks_edge_and_its_children_in_natural_order() -> None:
    listing = {
        "_meta": {"hostvars": {"pi-10": {"xedgesim_arch": "arm64"},
                               "pi-2": {"xedgesim_arch": "arm64",
                                        "xedgesim_mqtt_probe_host": "10.0.0.2",
                                        "xedgesim_mqtt_probe_port": 1883},
                               "lab": {"xedgesim_arch": "amd64"}, "db": {}}},
        "all": {"children": ["edge", "other"]},
        "edge": {"hosts": ["pi-10"], "children": ["garage"]},
        "garage": {"hosts": ["pi-2"], "children": ["edge"]},  # a cycle is harmless
        "other": {"hosts": ["db"]},
    }
    inventory = from_listing(Path("inv"), listing)
    assert [h.name for h in inventory.hosts] == ["pi-2", "pi-10"]
    assert inventory.arches == ("arm64",)
    assert inventory.host("pi-2").mqtt_endpoint(Path("inv")) == \
        MqttEndpoint("10.0.0.2", 1883, tls=False)
    assert inventory.problems() == []


def test_problems_name_hosts_without_an_architecture() -> None:
    inventory = from_listing(Path("inv"), {"_meta": {"hostvars": {"a": {}}},
                                           "edge": {"hosts": ["a"]}})
    assert inventory.problems() == ["a: xedgesim_arch is missing (expected one of amd64, arm64)"]
    assert from_listing(Path("inv"), {}).problems() == ["inv: no hosts in group 'edge'"]


def test_staging_hosts_carry_their_broker_certificate(tmp_path: Path) -> None:
    tls = {"edge-1": {"mqtt_tls_cert": "/run/tls/edge-1.crt", "mqtt_tls_key": "/run/tls/edge-1.key",
                      "mqtt_tls_ca": "/run/tls/ca.crt"}}
    path = write_staging(tmp_path / "hosts.yml", [StagingHost("edge-1", 1, 2, "amd64")],
                         Path("/k"), Path("/kh"), tls=tls)
    host = yaml.safe_load(path.read_text())["all"]["children"]["edge"]["hosts"]["edge-1"]
    assert mqtt_endpoint("edge-1", host, tmp_path) == \
        MqttEndpoint("127.0.0.1", 2, tls=True, ca=Path("/run/tls/ca.crt"))


def test_endpoint_is_derived_from_ansible_host_and_the_tls_port() -> None:
    variables = {"ansible_host": "192.168.1.21",
                 "mqtt_tls_cert": "{{ inventory_dir }}/tls/{{ inventory_hostname }}.crt",
                 "mqtt_tls_key": "{{ inventory_dir }}/tls/{{ inventory_hostname }}.key",
                 "mqtt_tls_ca": "{{inventory_dir}}/tls/ca.crt"}
    assert mqtt_endpoint("pi-kitchen", variables, Path("/site/pis")) == \
        MqttEndpoint("192.168.1.21", 8883, tls=True, ca=Path("/site/pis/tls/ca.crt"))
    relative = {**variables, "mqtt_tls_ca": "tls/ca.crt", "mqtt_broker_tls_port": 18883}
    assert mqtt_endpoint("pi", relative, Path("/site/pis")) == \
        MqttEndpoint("192.168.1.21", 18883, tls=True, ca=Path("/site/pis/tls/ca.crt"))


def test_endpoint_without_a_certificate_is_plain_and_named_by_the_host() -> None:
    assert mqtt_endpoint("pi.lan", {}, Path("/inv")) == MqttEndpoint("pi.lan", 1883, tls=False)


def test_endpoint_refuses_what_it_cannot_read_without_ansible() -> None:
    with pytest.raises(UsageError, match="mqtt_tls_ca"):
        mqtt_endpoint("pi", {"mqtt_tls_cert": "c", "mqtt_tls_ca": "{{ site_dir }}/ca.crt"},
                      Path("/inv"))
    with pytest.raises(UsageError, match="xedgesim_mqtt_probe_port"):
        mqtt_endpoint("pi", {"xedgesim_mqtt_probe_port": "70000"}, Path("/inv"))


def test_the_example_inventory_says_where_every_broker_is_reached() -> None:
    """inventories/pis with the production overlay, as `xedge verify` reads it: each Pi's
    broker is reached over TLS at its ansible_host, checked against the fleet's CA."""
    pis = PROJECT / "inventories" / "pis"
    fleet = load(pis, overlays=[PROJECT / "inventories" / "production.yml"])
    endpoint = fleet.host("pi-kitchen").mqtt_endpoint(inventory_dir(pis))
    assert endpoint == MqttEndpoint("192.168.1.21", 8883, tls=True, ca=pis / "tls" / "ca.crt")
