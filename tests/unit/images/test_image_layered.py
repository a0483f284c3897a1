"""Service image builds against a fake engine (xedgesim/images/layered.py)."""

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import docker
import pytest

from xedgesim.images.errors import BuildFailed
from xedgesim.images.layered import build_service, service_tags


class FakeImages:
    def __init__(self, ids: list[str | None]) -> None:
        self.ids = ids  # what successive get() calls find
        self.tagged: list[tuple[str, str]] = []

    def get(self, tag: str) -> Any:
        image_id = self.ids.pop(0)
        if image_id is None:
            raise docker.errors.ImageNotFound(tag)
        return SimpleNamespace(
            id=image_id,
            attrs={"Size": 42},
            tag=lambda repository, tag: self.tagged.append((repository, tag)),
        )


def fake_client(messages: list[dict], ids: list[str | None]) -> Any:
    calls: list[dict] = []

    def build(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return iter(messages)

    return SimpleNamespace(api=SimpleNamespace(build=build), images=FakeImages(ids), calls=calls)


def context(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n")
    return tmp_path


def test_service_tags_add_latest_only_for_the_host_arch() -> None:
    assert service_tags("broker", "0.1.0", "amd64", "amd64") == (
        "xedgesim/broker:0.1.0-amd64",
        "xedgesim/broker:latest",
    )
    assert service_tags("broker", "0.1.0", "arm64", "amd64") == ("xedgesim/broker:0.1.0-arm64",)


def test_build_passes_base_platform_labels_and_tags_latest(tmp_path: Path) -> None:
    client = fake_client([{"stream": "Step 1/2 : ARG BASE_IMAGE\n"}], [None, "sha256:new"])
    lines: list[str] = []

    image = build_service(
        client, "broker", context(tmp_path), "amd64", "xedgesim/base:k-amd64", "0.1.0", "amd64",
        lines.append,
    )  # fmt: skip

    call = client.calls[0]
    assert call["buildargs"] == {"BASE_IMAGE": "xedgesim/base:k-amd64"}
    assert call["platform"] == "linux/amd64" and call["pull"] is False
    assert call["labels"]["org.xedgesim.managed"] == "true"
    assert len(call["labels"]["org.xedgesim.source-hash"]) == 64
    assert client.images.tagged == [("xedgesim/broker", "latest")]
    assert (image.image_id, image.size, image.cached) == ("sha256:new", 42, False)
    assert "broker amd64: Step 1/2 : ARG BASE_IMAGE" in lines


def test_an_unchanged_build_is_reported_cached(tmp_path: Path) -> None:
    client = fake_client([], ["sha256:same", "sha256:same"])

    image = build_service(
        client, "broker", context(tmp_path), "arm64", "b", "0.1.0", "amd64", lambda _: None
    )

    assert image.cached and client.images.tagged == []


def test_a_failed_step_raises_with_the_log_tail(tmp_path: Path) -> None:
    messages = [
        {"stream": "Step 3/9 : RUN apt-get install nope\n"},
        {"stream": "E: Unable to locate package nope\n"},
        {"error": "The command returned a non-zero code: 100"},
    ]
    client = fake_client(messages, [None])

    with pytest.raises(BuildFailed, match="non-zero code: 100") as caught:
        build_service(client, "x", context(tmp_path), "amd64", "b", "0.1.0", "amd64", print)
    assert "Unable to locate package nope" in str(caught.value)
