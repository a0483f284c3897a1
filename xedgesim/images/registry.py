"""The service images xedgesim builds, by name. Adding one is a build context directory
``images/<name>/`` (a Dockerfile starting ``ARG BASE_IMAGE`` / ``FROM ${BASE_IMAGE}``) plus one
line in IMAGES."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from xedgesim import project
from xedgesim.images.errors import ImagesError


@dataclass(frozen=True)
class ImageSpec:
    """One service image: its name (= context directory under images/), whether it is built
    only for the host's architecture, and whether its context also gets the ``xedgesim``
    package source (at ``xedgesim/``), for images that run the project's own Python."""

    name: str
    summary: str
    native_only: bool = False
    includes_package: bool = False

    def builds_for(self, arch: str, host_arch: str) -> bool:
        """Whether a build for ``arch`` on a ``host_arch`` machine includes this image."""
        return arch == host_arch or not self.native_only


IMAGES: tuple[ImageSpec, ...] = (
    ImageSpec("broker", "Mosquitto with simulation and production configs"),
    # A simulated Pi runs its own engine, which does not run under qemu-user emulation.
    ImageSpec("edge-host", "a simulated Raspberry Pi: sshd and its own Docker engine", True),
    ImageSpec("gateway", "gateway MQTT service and node protocol server", includes_package=True),
)

BASE_CONTEXT = "base"


def select(names: Iterable[str] = ()) -> tuple[ImageSpec, ...]:
    """The specs for ``names`` in registry order (all when empty); unknown names list the known."""
    wanted = set(names)
    known = {spec.name for spec in IMAGES}
    if unknown := sorted(wanted - known):
        raise ImagesError(f"unknown image {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return tuple(spec for spec in IMAGES if not wanted or spec.name in wanted)


def contexts_dir() -> Path:
    """Where the build contexts live: $XEDGESIM_IMAGES_DIR, else ``images/`` of the project
    files (the checkout, or the copy an installed package carries: ``xedgesim.project``)."""
    if configured := os.environ.get("XEDGESIM_IMAGES_DIR"):
        path = Path(configured)
    else:
        try:
            path = project.project_root() / "images"
        except project.ProjectFilesMissing as error:
            raise ImagesError(str(error)) from None
    if not (path / BASE_CONTEXT / "packages.txt").is_file():
        raise ImagesError(
            f"no image build contexts at {path} (expected {BASE_CONTEXT}/packages.txt): "
            "set XEDGESIM_IMAGES_DIR to a directory laid out like images/ of the checkout"
        )
    return path
