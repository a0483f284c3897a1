"""Service images: a Dockerfile build context under ``images/<name>/`` layered on the local base
image, which the Dockerfile receives as the build argument ``BASE_IMAGE``.

The engine's build cache makes an unchanged rebuild take seconds; the labels are part of the
build, so they are cached too as long as the version and the context hash stay the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from xedgesim.images import naming
from xedgesim.images.errors import BuildFailed
from xedgesim.images.hashing import tree_hash

if TYPE_CHECKING:
    import docker

Progress = Callable[[str], None]
_LOG_TAIL = 20


@dataclass(frozen=True)
class ServiceImage:
    """A service image present in the engine after a build."""

    name: str
    arch: str
    tags: tuple[str, ...]
    image_id: str
    size: int
    cached: bool
    seconds: float


def service_tags(name: str, version: str, arch: str, host_arch: str) -> tuple[str, ...]:
    """``<version>-<arch>``, plus ``latest`` when ``arch`` is the host's."""
    tags = [naming.image_tag(name, version, arch)]
    if arch == host_arch:
        tags.append(naming.latest_tag(name))
    return tuple(tags)


def build_service(
    client: docker.DockerClient,
    name: str,
    context: Path,
    arch: str,
    base_tag: str,
    version: str,
    host_arch: str,
    progress: Progress,
) -> ServiceImage:
    """Build ``images/<name>`` for ``arch`` on ``base_tag`` and tag it; raise with the log tail.

    The build uses the host's network so that ``RUN apt-get`` reaches the same Debian mirror
    the host does, whatever the engine's bridge allows.
    """
    import docker

    started = time.monotonic()
    tags = service_tags(name, version, arch, host_arch)
    labels = naming.labels(name, version, tree_hash(context))
    progress(f"{name} {arch}: building on {base_tag}")
    log: list[str] = []
    try:
        previous_id: str | None = client.images.get(tags[0]).id
    except docker.errors.ImageNotFound:
        previous_id = None
    try:
        stream = client.api.build(
            path=str(context),
            tag=tags[0],
            buildargs={"BASE_IMAGE": base_tag},
            labels=labels,
            platform=naming.docker_platform(arch),
            network_mode="host",
            pull=False,
            rm=True,
            forcerm=True,
            decode=True,
        )
        for message in stream:
            if "error" in message:
                detail = "".join(log[-_LOG_TAIL:])
                raise BuildFailed(f"{name} {arch}: build failed: {message['error']}\n{detail}")
            text = message.get("stream", "")
            if not text:
                continue
            log.append(text)
            if text.startswith("Step "):
                progress(f"{name} {arch}: {text.strip()}")
    except docker.errors.APIError as error:
        raise BuildFailed(f"{name} {arch}: build failed: {error.explanation or error}") from None
    image = client.images.get(tags[0])
    for extra in tags[1:]:
        repository, _, tag = extra.rpartition(":")
        image.tag(repository, tag)
    seconds = time.monotonic() - started
    cached = image.id == previous_id
    progress(f"{name} {arch}: {'up to date' if cached else 'built'} in {seconds:.1f}s")
    return ServiceImage(name, arch, tags, image.id, image.attrs.get("Size", 0), cached, seconds)
