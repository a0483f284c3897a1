"""Tags, labels and architecture names (xedgesim/images/naming.py)."""

import pytest

from xedgesim.images import naming


@pytest.mark.parametrize(
    ("machine", "arch"), [("x86_64", "amd64"), ("aarch64", "arm64"), ("ARM64", "arm64")]
)
def test_host_arch_maps_machine_names(machine: str, arch: str) -> None:
    assert naming.host_arch(machine) == arch


def test_host_arch_rejects_unknown_machines() -> None:
    with pytest.raises(ValueError, match="riscv64"):
        naming.host_arch("riscv64")


def test_resolve_arches() -> None:
    assert naming.resolve_arches("all") == ("amd64", "arm64")
    assert naming.resolve_arches("arm64") == ("arm64",)
    with pytest.raises(ValueError, match="known: amd64, arm64, all"):
        naming.resolve_arches("mips")


def test_tags() -> None:
    assert naming.image_tag("broker", "0.1.0", "arm64") == "xedgesim/broker:0.1.0-arm64"
    assert naming.latest_tag("edge-host") == "xedgesim/edge-host:latest"
    assert naming.base_tag("d483461fc83c", "amd64") == "xedgesim/base:d483461fc83c-amd64"


def test_tag_replaces_characters_a_tag_cannot_hold() -> None:
    assert naming.image_tag("broker", "0.2.0+dev/1", "amd64") == "xedgesim/broker:0.2.0-dev-1-amd64"


def test_platform_and_variant() -> None:
    assert naming.docker_platform("arm64") == "linux/arm64"
    assert naming.variant("arm64") == "v8"
    assert naming.variant("amd64") is None


def test_labels_mark_the_image_as_managed() -> None:
    assert naming.labels("broker", "0.1.0", "abc") == {
        "org.xedgesim.image": "broker",
        "org.xedgesim.version": "0.1.0",
        "org.xedgesim.source-hash": "abc",
        "org.xedgesim.managed": "true",
    }
    assert naming.MANAGED_FILTER == {"label": "org.xedgesim.managed=true"}
