"""The service image registry and build contexts (xedgesim/images/registry.py, images/)."""

from pathlib import Path

import pytest

from xedgesim.images import registry
from xedgesim.images.errors import ImagesError

CONTEXTS = Path(__file__).resolve().parents[3] / "images"


def test_select_all_keeps_registry_order() -> None:
    assert [spec.name for spec in registry.select()] == [spec.name for spec in registry.IMAGES]


def test_select_unknown_names_the_known_ones() -> None:
    with pytest.raises(ImagesError, match=r"unknown image nope \(known: broker, edge-host"):
        registry.select(["broker", "nope"])


@pytest.mark.parametrize("spec", registry.IMAGES, ids=lambda spec: spec.name)
def test_every_image_has_a_context_layered_on_the_base(spec: registry.ImageSpec) -> None:
    dockerfile = (CONTEXTS / spec.name / "Dockerfile").read_text()
    instructions = [
        line.split()[:2] for line in dockerfile.splitlines() if line and not line.startswith("#")
    ]

    assert instructions[:2] == [["ARG", "BASE_IMAGE"], ["FROM", "${BASE_IMAGE}"]]


def test_native_only_images_build_for_the_host_arch_alone() -> None:
    edge_host = next(spec for spec in registry.IMAGES if spec.name == "edge-host")
    broker = next(spec for spec in registry.IMAGES if spec.name == "broker")

    assert edge_host.builds_for("amd64", "amd64") and edge_host.builds_for("arm64", "arm64")
    assert not edge_host.builds_for("arm64", "amd64")
    assert broker.builds_for("arm64", "amd64")


def test_contexts_dir_defaults_to_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XEDGESIM_IMAGES_DIR", raising=False)

    assert registry.contexts_dir() == CONTEXTS


def test_contexts_dir_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XEDGESIM_IMAGES_DIR", str(tmp_path))
    with pytest.raises(ImagesError, match="XEDGESIM_IMAGES_DIR"):
        registry.contexts_dir()
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "packages.txt").write_text("python3\n")
    assert registry.contexts_dir() == tmp_path
