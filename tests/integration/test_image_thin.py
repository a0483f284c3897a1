"""A thin archive loads into a real engine that has the base: the same image id arrives,
while the base's layers never travel (xedgesim/images/thin.py)."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path
from typing import Any

import docker

from xedgesim.images.thin import thin_archive


def test_a_thin_archive_loads_to_the_same_image(amd64_build: Any, docker_client: Any,
                                                tmp_path: Path) -> None:
    [base] = amd64_build.bases
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {base.tag}\nCOPY code /code\n")
    (context / "code").write_text(uuid.uuid4().hex * 1000)  # a layer no engine has yet
    tag = f"xedgesim-test-thin:{uuid.uuid4().hex[:8]}"
    image, _ = docker_client.images.build(path=str(context), tag=tag, pull=False, rm=True,
                                          labels={"org.xedgesim.test": "integration"})
    try:
        full = tmp_path / "image.tar"
        with full.open("wb") as handle:
            for chunk in image.save(named=tag):
                handle.write(chunk)
        have = [docker_client.images.get(base.tag).attrs["RootFS"]["Layers"]]
        thin = thin_archive(full, have)
        assert thin.stat().st_size * 100 < full.stat().st_size  # the base stayed home
        docker_client.images.remove(image.id, force=True)

        with thin.open("rb") as handle:
            [loaded] = docker_client.images.load(handle.read())

        assert loaded.id == image.id and tag in loaded.tags
        assert loaded.attrs["RootFS"]["Layers"] == image.attrs["RootFS"]["Layers"]
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):  # a failed load left none
            docker_client.images.remove(tag, force=True)
