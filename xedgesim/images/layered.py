"""Service images: a Dockerfile build context under ``images/<name>/`` layered on the local base
image, which the Dockerfile receives as the build argument ``BASE_IMAGE``.

The engine's build cache makes an unchanged rebuild take seconds; the labels are part of the
build, so they are cached too as long as the version and the context hash stay the same.

An image that runs the project's own Python is built from a staged copy of its context with the
``.py`` files of the ``xedgesim`` modules it runs added under ``xedgesim/``: the import closure
of ``ENTRY_MODULES`` (``xedgesim.images.closure``). The source hash then covers exactly that
code, so changing a module the image runs changes the label and the build, and changing any
other module (the CLI, the deploy code) leaves the image, its id and what a deploy ships alone.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from xedgesim.images import naming
from xedgesim.images.closure import import_closure
from xedgesim.images.errors import BuildFailed
from xedgesim.images.hashing import tree_hash

if TYPE_CHECKING:
    import docker

Progress = Callable[[str], None]
_LOG_TAIL = 20
PACKAGE_DIR = "xedgesim"  # where a context that includes the package finds it
# What an image that includes the package runs (the gateway image: images/gateway/Dockerfile).
ENTRY_MODULES = ("xedgesim.services.gateway", "xedgesim.services.protocol")


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


def package_source() -> Path:
    """The ``xedgesim`` package directory this process runs (in a checkout: its source)."""
    return Path(__file__).resolve().parents[1]


@contextmanager
def staged_context(context: Path, package: Path | None) -> Iterator[Path]:
    """``context`` itself, or a temporary copy of it with the ``.py`` files of ``package``
    that ``ENTRY_MODULES`` import (no bytecode, no other module, not the packaged project
    files) under ``xedgesim/``, removed afterwards."""
    if package is None:
        yield context
        return
    with tempfile.TemporaryDirectory(prefix="xedgesim-context-") as temporary:
        staged = Path(temporary) / context.name
        shutil.copytree(context, staged, symlinks=True)
        target = staged / PACKAGE_DIR
        if target.exists():
            raise BuildFailed(f"{context}: {PACKAGE_DIR}/ is reserved for the package source")
        for relative in import_closure(package, ENTRY_MODULES):
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(package / relative, target / relative)
        yield staged


def build_service(
    client: docker.DockerClient,
    name: str,
    context: Path,
    arch: str,
    base_tag: str,
    version: str,
    host_arch: str,
    progress: Progress,
    package: Path | None = None,
) -> ServiceImage:
    """Build ``images/<name>`` for ``arch`` on ``base_tag`` and tag it; raise with the log tail.

    With ``package``, the build context also holds that package's source (``staged_context``).
    The build uses the host's network so that ``RUN apt-get`` reaches the same Debian mirror
    the host does, whatever the engine's bridge allows.
    """
    with staged_context(context, package) as staged:
        return _build(client, name, staged, arch, base_tag, version, host_arch, progress)


def _build(
    client: docker.DockerClient,
    name: str,
    context: Path,
    arch: str,
    base_tag: str,
    version: str,
    host_arch: str,
    progress: Progress,
) -> ServiceImage:
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
