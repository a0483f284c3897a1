"""Thin archives: docker save archives without the layers a device has (images/thin.py)."""

import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from xedgesim.images.thin import ThinError, chain_ids, present_chains, thin_archive


def diff(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


def make_archive(path: Path, images: dict[str, list[str]]) -> Path:
    """A docker-save-shaped archive: one ``<layer>/layer.tar`` per layer name, one config and
    one manifest entry per image; a layer's diff id is ``diff(name)``."""
    members: dict[str, bytes] = {}
    manifest = []
    for tag, layers in images.items():
        config = json.dumps({"rootfs": {"type": "layers",
                                        "diff_ids": [diff(layer) for layer in layers]}}).encode()
        config_name = hashlib.sha256(config).hexdigest() + ".json"
        members[config_name] = config
        for layer in layers:
            members[f"{layer}/layer.tar"] = layer.encode() * 20_000
            members[f"{layer}/json"] = b"{}"
        manifest.append({"Config": config_name, "RepoTags": [tag],
                         "Layers": [f"{layer}/layer.tar" for layer in layers]})
    members["manifest.json"] = json.dumps(manifest).encode()
    with tarfile.open(path, "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def names(path: Path) -> set[str]:
    with tarfile.open(path) as archive:
        return set(archive.getnames())


def test_a_chain_id_names_a_layer_and_all_below_it() -> None:
    a, b, c = diff("a"), diff("b"), diff("c")
    ab = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()

    assert chain_ids([a, b, c])[:2] == [a, ab]
    assert chain_ids([a, b, c])[2] == "sha256:" + hashlib.sha256(f"{ab} {c}".encode()).hexdigest()
    assert chain_ids([b, a])[1] != ab  # the same layers in another order are other layers


def test_the_layers_the_device_has_stay_home(tmp_path: Path) -> None:
    source = make_archive(tmp_path / "gateway.tar", {"g:1": ["base", "user", "code"]})

    thin = thin_archive(source, [[diff("base"), diff("user"), diff("old-code")]])

    kept = names(thin)
    assert "base/layer.tar" not in kept and "user/layer.tar" not in kept
    assert {"code/layer.tar", "manifest.json", "base/json"} <= kept
    assert thin.stat().st_size < source.stat().st_size / 2
    assert thin_archive(source, [[diff("base"), diff("user"), diff("old-code")]]) == thin


def test_a_layer_counts_only_on_the_same_layers_below_it(tmp_path: Path) -> None:
    """A device with ``user`` on another base lacks this ``user`` (another chain)."""
    source = make_archive(tmp_path / "gateway.tar", {"g:1": ["base", "user"]})

    assert thin_archive(source, [[diff("other"), diff("user")]]) == source
    assert thin_archive(source, []) == source


def test_a_layer_shared_by_images_stays_when_one_image_needs_it(tmp_path: Path) -> None:
    source = make_archive(tmp_path / "both.tar", {"a:1": ["base", "x"], "b:1": ["x"]})

    thin = thin_archive(source, [[diff("base"), diff("x")]])

    assert "x/layer.tar" in names(thin) and "base/layer.tar" not in names(thin)


@pytest.mark.parametrize("have", [
    [["sha256:nothex"]], ["sha256:" + "0" * 64], [[diff("a")] * 1001],
])
def test_a_device_report_out_of_shape_is_refused(have: list) -> None:
    with pytest.raises(ThinError):
        present_chains(have)


def test_the_role_entry_point_answers_in_json_and_refuses_bad_input(tmp_path: Path) -> None:
    source = make_archive(tmp_path / "gateway.tar", {"g:1": ["base", "code"]})
    request = json.dumps({"archive": str(source), "have": [[diff("base")]]})

    done = subprocess.run([sys.executable, "-m", "xedgesim.images.thin"], input=request,
                          capture_output=True, text=True, check=True)
    answer = json.loads(done.stdout)
    assert answer["full_bytes"] == source.stat().st_size > answer["bytes"]
    assert "base/layer.tar" not in names(Path(answer["path"]))

    bad = subprocess.run([sys.executable, "-m", "xedgesim.images.thin"],
                         input=json.dumps({"archive": str(source), "have": [["x"]]}),
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("thin archive: ")
    assert "Traceback" not in bad.stderr
