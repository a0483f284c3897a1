"""xedgesim/deploy/manifest.py: what a passing stage records, that it holds no secret, and
which images the store vouches for."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from xedgesim.deploy import manifest, secrets
from xedgesim.deploy.errors import ReleaseRefused
from xedgesim.deploy.release import ImageRef, Release

BROKER = "sha256:" + "b" * 64
GATEWAY = "sha256:" + "a" * 64
OTHER_GATEWAY = "sha256:" + "c" * 64


def release(gateway: str = GATEWAY, arch: str = "amd64") -> Release:
    return Release((ImageRef("broker", arch, f"xedgesim/broker:0.1.0-{arch}", BROKER),
                    ImageRef("gateway", arch, f"xedgesim/gateway:0.1.0-{arch}", gateway)))


def passing(staged: Release, passed: bool = True) -> dict:
    verification = manifest.Verification(passed, 30, 0 if passed else 2, 0, 0,
                                         "verify/junit.xml", True, ("edge-1", "edge-2"))
    return manifest.build(staged, verification, stage={"hosts": 2, "arch": "amd64"},
                          now=0)


def test_manifest_lists_digests_per_arch_and_the_verification() -> None:
    document = passing(release())
    assert document["release"] == release().id
    assert document["images"]["amd64"]["gateway"] == {"tag": "xedgesim/gateway:0.1.0-amd64",
                                                      "id": GATEWAY}
    assert document["image_names"] == ["broker", "gateway"]
    assert document["verification"]["passed"] and document["verification"]["tests"] == 30
    assert document["created"] == "1970-01-01T00:00:00Z"


def test_manifest_holds_no_secret(tmp_path: Path) -> None:
    """Staging secrets exist while the manifest is made; none of them may reach it."""
    path = secrets.generate(tmp_path / "secrets")
    passwords = [u["password"] for u in yaml.safe_load(path.read_text())[secrets.VARIABLE]]
    document = passing(release())
    here, stored = manifest.record(document, tmp_path / "run", tmp_path / "releases")
    for written in (here, stored):
        text = written.read_text()
        assert not any(password in text for password in passwords)
        assert "password" not in text.lower()
        assert "id_ed25519" not in text and str(path) not in text


def test_scenario_is_recorded_by_hash(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: s\n")
    document = manifest.build(release(), manifest.Verification(True, 1, 0, 0, 0, "j"),
                              stage={}, scenario=scenario)
    assert document["scenario"] == {"path": str(scenario),
                                    "sha256": hashlib.sha256(b"name: s\n").hexdigest()}


def test_only_a_passing_run_is_recorded(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        manifest.record(passing(release(), passed=False), tmp_path, tmp_path / "store")


def test_vouch_needs_the_exact_set_of_images_per_arch(tmp_path: Path) -> None:
    store = tmp_path / "releases"
    manifest.record(passing(release()), tmp_path / "run", store)
    assert manifest.require_vouched(release(), store).by_arch == {"amd64": release().id}
    with pytest.raises(ReleaseRefused) as refused:
        manifest.require_vouched(release(OTHER_GATEWAY), store)
    message = str(refused.value)
    assert f"amd64 gateway {OTHER_GATEWAY}: never passed staging" in message
    assert f"amd64 broker {BROKER}: staged, but never together" in message
    assert "--force" in message


def test_a_failed_manifest_vouches_for_nothing(tmp_path: Path) -> None:
    store = tmp_path / "releases"
    store.mkdir()
    (store / "x.json").write_text(json.dumps(passing(release(), passed=False)))
    (store / "garbage.json").write_text("{not json")
    assert not manifest.vouch(release(), manifest.load_store(store)).complete


def test_force_returns_an_incomplete_vouch(tmp_path: Path) -> None:
    vouch = manifest.require_vouched(release(), tmp_path / "empty", force=True)
    assert not vouch.complete and len(vouch.missing) == 2


def test_each_arch_may_be_vouched_by_a_different_stage(tmp_path: Path) -> None:
    store = tmp_path / "releases"
    manifest.record(passing(release()), tmp_path / "a", store)
    manifest.record(passing(release(arch="arm64")), tmp_path / "b", store)
    mixed = Release(release().images + release(arch="arm64").images)
    assert set(manifest.require_vouched(mixed, store).by_arch) == {"amd64", "arm64"}


def test_release_of_round_trips(tmp_path: Path) -> None:
    assert manifest.release_of(passing(release())).ids() == release().ids()
    manifest.record(passing(release()), tmp_path / "run", tmp_path / "store")
    assert manifest.find(release().id, tmp_path / "store")["release"] == release().id
