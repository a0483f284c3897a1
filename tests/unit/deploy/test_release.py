"""xedgesim/deploy/release.py: images by id, the content-derived release id, archives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import docker
import pytest

from xedgesim.deploy.errors import UsageError
from xedgesim.deploy.release import ImageRef, Release, resolve_local, save_archives


class FakeImage:
    def __init__(self, image_id: str, arch: str, tags: list[str]) -> None:
        self.id = image_id
        self.tags = tags
        self.attrs = {"Id": image_id, "Architecture": arch, "RepoTags": tags}
        self.saved: list[Any] = []

    def save(self, chunk_size: int, named: Any) -> Any:
        self.saved.append(named)
        yield b"tar-" + self.id.encode()


class FakeClient:
    """Images by tag and by id, like the engine's ``images.get``."""

    def __init__(self, *images: FakeImage) -> None:
        self.by_ref = {ref: image for image in images for ref in (image.id, *image.tags)}
        self.images = self

    def get(self, ref: str) -> FakeImage:
        if ref not in self.by_ref:
            raise docker.errors.ImageNotFound(ref)
        return self.by_ref[ref]


def sha(char: str) -> str:
    return "sha256:" + char * 64


@pytest.fixture
def client() -> FakeClient:
    return FakeClient(
        FakeImage(sha("1"), "amd64", ["xedgesim/broker:0.1.0-amd64"]),
        FakeImage(sha("2"), "amd64", ["xedgesim/gateway:0.1.0-amd64"]),
        FakeImage(sha("3"), "arm64", ["xedgesim/broker:0.1.0-arm64"]),
        FakeImage(sha("4"), "arm64", ["xedgesim/gateway:0.1.0-arm64"]),
        FakeImage(sha("5"), "amd64", ["xedgesim/gateway:broken-amd64"]),
    )


def test_resolve_local_takes_the_built_tags_per_arch(client: FakeClient) -> None:
    found = resolve_local(client, ["arm64", "amd64"])
    assert found.ids() == {"amd64": {"broker": sha("1"), "gateway": sha("2")},
                           "arm64": {"broker": sha("3"), "gateway": sha("4")}}
    assert found.arches == ("amd64", "arm64")


def test_an_override_replaces_one_service_for_its_arch(client: FakeClient) -> None:
    found = resolve_local(client, ["amd64", "arm64"], ["gateway=xedgesim/gateway:broken-amd64"])
    assert found.image("amd64", "gateway") == ImageRef(
        "gateway", "amd64", "xedgesim/gateway:broken-amd64", sha("5"))
    assert found.image("arm64", "gateway").id == sha("4")


def test_bad_overrides_and_missing_images_are_usage_errors(client: FakeClient) -> None:
    with pytest.raises(UsageError, match="NAME=REF"):
        resolve_local(client, ["amd64"], ["cloud=x"])
    with pytest.raises(UsageError, match="for amd64, and the inventory has only arm64"):
        resolve_local(client, ["arm64"], ["gateway=xedgesim/gateway:broken-amd64"])
    with pytest.raises(UsageError, match=r"not on this machine.*never pulls"):
        resolve_local(FakeClient(), ["amd64"])


def test_release_id_is_derived_from_the_image_ids_only(client: FakeClient) -> None:
    one = resolve_local(client, ["amd64"])
    retagged = Release(tuple(ImageRef(i.name, i.arch, "other:tag", i.id) for i in one.images))
    assert one.id == retagged.id and one.id.startswith("r") and len(one.id) == 13
    assert resolve_local(client, ["amd64"], ["gateway=" + sha("5")]).id != one.id


def test_archives_are_saved_once_per_image_id_and_named_by_the_tag(
        client: FakeClient, tmp_path: Path) -> None:
    found = resolve_local(client, ["amd64"])
    archives = save_archives(client, found, tmp_path / "images")
    again = save_archives(client, found, tmp_path / "images")
    assert archives == again
    assert client.get(sha("1")).saved == ["xedgesim/broker:0.1.0-amd64"]  # once
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == [
        "broker-amd64-111111111111.tar", "gateway-amd64-222222222222.tar"]
    variables = found.to_dict(archives)
    assert variables["id"] == found.id
    assert variables["images"]["amd64"]["broker"] == {
        "tag": "xedgesim/broker:0.1.0-amd64", "id": sha("1"),
        "archive": str(tmp_path / "images" / "broker-amd64-111111111111.tar")}


TWO_ARCHES = Release((ImageRef("gateway", "arm64", "xedgesim/gateway:0.1.0-arm64", sha("4")),
                      ImageRef("broker", "amd64", "xedgesim/broker:0.1.0-amd64", sha("1")),
                      ImageRef("broker", "arm64", "xedgesim/broker:0.1.0-arm64", sha("3"))))


def test_the_record_round_trips_and_archives_do_not_change_the_release(tmp_path: Path) -> None:
    plain = TWO_ARCHES.to_dict()
    shipped = TWO_ARCHES.to_dict({sha("1"): tmp_path / "b.tar"})

    assert Release.from_dict(plain).ids() == Release.from_dict(shipped).ids() == TWO_ARCHES.ids()
    assert Release.from_dict(plain).to_dict() == plain
    assert plain["id"] == TWO_ARCHES.id and "archive" not in str(plain)
    assert shipped["images"]["amd64"]["broker"]["archive"] == str(tmp_path / "b.tar")


def test_every_writer_writes_the_one_record(tmp_path: Path) -> None:
    from xedgesim.deploy import manifest
    from xedgesim.deploy.verification import write_release_file

    document = manifest.build(TWO_ARCHES, manifest.Verification(True, 1, 0, 0, 0, "j"),
                              stage={})
    suite_file = write_release_file(tmp_path / "release.json", TWO_ARCHES.to_dict({}))

    assert document["images"] == TWO_ARCHES.to_dict()["images"]
    assert manifest.release_of(document) == Release.from_dict(TWO_ARCHES.to_dict())
    assert json.loads(suite_file.read_text()) == TWO_ARCHES.to_dict()


def test_a_record_changed_after_it_was_written_is_refused() -> None:
    document = TWO_ARCHES.to_dict()
    document["images"]["arm64"]["gateway"]["id"] = sha("5")

    with pytest.raises(UsageError, match=f"release {TWO_ARCHES.id}: its images make release r"):
        Release.from_dict(document)


@pytest.mark.parametrize("document", [{}, {"images": []}, {"images": {"amd64": {"broker": {}}}}],
                         ids=["no-images", "images-not-a-mapping", "entry-without-id"])
def test_a_malformed_record_is_a_usage_error(document: dict[str, Any]) -> None:
    with pytest.raises(UsageError, match="not a release"):
        Release.from_dict(document)
