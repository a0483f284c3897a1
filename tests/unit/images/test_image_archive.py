"""The docker-save archive the base is loaded from (xedgesim/images/archive.py)."""

import hashlib
import io
import json
import tarfile
from datetime import UTC, datetime
from pathlib import Path

from xedgesim.images.archive import file_sha256, image_config, save_archive


def make_layer(path: Path) -> Path:
    with tarfile.open(path, "w") as layer:
        data = b"hello from the rootfs\n" * 100
        info = tarfile.TarInfo("etc/motd")
        info.size = len(data)
        layer.addfile(info, io.BytesIO(data))
    return path


def test_config_carries_arch_variant_labels_and_layer() -> None:
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    config = image_config("arm64", "ab" * 32, {"a": "b"}, "debootstrap", created)

    assert (config["architecture"], config["variant"], config["os"]) == ("arm64", "v8", "linux")
    assert config["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + "ab" * 32]}
    assert config["config"]["Labels"] == {"a": "b"}
    assert config["created"] == "2026-01-02T03:04:05Z"
    assert "variant" not in image_config("amd64", "ab" * 32, {}, "x", created)


def test_archive_is_a_valid_docker_save_tarball(tmp_path: Path) -> None:
    layer = make_layer(tmp_path / "rootfs.tar")
    layer_sha = file_sha256(layer)
    config = image_config("arm64", layer_sha, {"org.xedgesim.managed": "true"}, "test")

    stream = b"".join(save_archive(layer, layer_sha, config, ["xedgesim/base:k-arm64"]))

    assert len(stream) % tarfile.BLOCKSIZE == 0
    with tarfile.open(fileobj=io.BytesIO(stream)) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))
        assert manifest[0]["RepoTags"] == ["xedgesim/base:k-arm64"]
        config_bytes = archive.extractfile(manifest[0]["Config"]).read()
        layer_bytes = archive.extractfile(manifest[0]["Layers"][0]).read()
    assert manifest[0]["Config"] == hashlib.sha256(config_bytes).hexdigest() + ".json"
    assert json.loads(config_bytes)["architecture"] == "arm64"
    assert layer_bytes == layer.read_bytes()
    assert json.loads(config_bytes)["rootfs"]["diff_ids"] == [f"sha256:{layer_sha}"]
