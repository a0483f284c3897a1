"""xedgesim/deploy/inventory.py: the staging inventory written, any inventory read."""

from __future__ import annotations

from pathlib import Path

import yaml

from xedgesim.deploy.inventory import StagingHost, from_listing, write_staging


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
    assert inventory.host("pi-2").probe == ("10.0.0.2", 1883)
    assert inventory.host("pi-10").probe is None
    assert inventory.problems() == []


def test_problems_name_hosts_without_an_architecture() -> None:
    inventory = from_listing(Path("inv"), {"_meta": {"hostvars": {"a": {}}},
                                           "edge": {"hosts": ["a"]}})
    assert inventory.problems() == ["a: xedgesim_arch is missing (expected one of amd64, arm64)"]
    assert from_listing(Path("inv"), {}).problems() == ["inv: no hosts in group 'edge'"]
