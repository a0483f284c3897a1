"""How xedgesim names its images: tags, labels and architectures, in one place.

Every image is ``xedgesim/<name>:<version>-<arch>`` (the base uses its content key instead of a
version), the host's architecture also gets ``:latest``, and every image carries the labels below
so that ``xedge images list`` and cleanup can find exactly the images this project made.
"""

from __future__ import annotations

import platform as _platform
import re

ARCHES: tuple[str, ...] = ("amd64", "arm64")
REPOSITORY_PREFIX = "xedgesim"
BASE_NAME = "base"

LABEL_VERSION = "org.xedgesim.version"
LABEL_SOURCE_HASH = "org.xedgesim.source-hash"
LABEL_MANAGED = "org.xedgesim.managed"
LABEL_IMAGE = "org.xedgesim.image"
MANAGED_FILTER: dict[str, str] = {"label": f"{LABEL_MANAGED}=true"}

_MACHINE_TO_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
# The image config's "variant" field; docker and containerd expect v8 for arm64.
_VARIANTS = {"arm64": "v8"}
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def host_arch(machine: str | None = None) -> str:
    """The Debian/Docker name of this machine's architecture (``amd64``, ``arm64``)."""
    machine = machine or _platform.machine()
    try:
        return _MACHINE_TO_ARCH[machine.lower()]
    except KeyError:
        raise ValueError(f"unsupported machine architecture {machine!r}") from None


def resolve_arches(choice: str) -> tuple[str, ...]:
    """Turn the ``--arch`` choice (an arch or ``all``) into the arches to build, in order."""
    if choice == "all":
        return ARCHES
    if choice not in ARCHES:
        raise ValueError(f"unknown architecture {choice!r} (known: {', '.join(ARCHES)}, all)")
    return (choice,)


def docker_platform(arch: str) -> str:
    """The platform string the engine expects for builds, e.g. ``linux/arm64``."""
    return f"linux/{arch}"


def variant(arch: str) -> str | None:
    """The image config's architecture variant, or None when the arch has none."""
    return _VARIANTS.get(arch)


def repository(name: str) -> str:
    """``xedgesim/<name>``: the repository every xedgesim image lives in."""
    return f"{REPOSITORY_PREFIX}/{name}"


def image_tag(name: str, version: str, arch: str) -> str:
    """``xedgesim/<name>:<version>-<arch>``; characters a tag cannot hold become ``-``."""
    return f"{repository(name)}:{_TAG_UNSAFE.sub('-', version)}-{arch}"


def latest_tag(name: str) -> str:
    """``xedgesim/<name>:latest``, given only to the host architecture's build."""
    return f"{repository(name)}:latest"


def base_tag(key: str, arch: str) -> str:
    """``xedgesim/base:<key>-<arch>``: the key is the content hash, so a tag names one recipe."""
    return image_tag(BASE_NAME, key, arch)


def labels(image: str, version: str, source_hash: str) -> dict[str, str]:
    """The labels every xedgesim image carries."""
    return {
        LABEL_IMAGE: image,
        LABEL_VERSION: version,
        LABEL_SOURCE_HASH: source_hash,
        LABEL_MANAGED: "true",
    }
