"""``xedge images list``: the images this project made, found by their managed label, with the
fields a release needs (name, arch, digest, size)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from xedgesim.images import naming

if TYPE_CHECKING:
    import docker


@dataclass(frozen=True)
class ListedImage:
    """One xedgesim image in the engine; ``digest`` is the image id (sha256 of its config)."""

    name: str
    arch: str
    version: str
    tags: tuple[str, ...]
    digest: str
    size: int


def from_attrs(attrs: dict) -> ListedImage:
    """A ListedImage from the engine's image inspect data."""
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    tags = tuple(sorted(attrs.get("RepoTags") or ()))
    name = labels.get(naming.LABEL_IMAGE) or (tags[0].split(":")[0] if tags else "?")
    return ListedImage(
        name=name.removeprefix(f"{naming.REPOSITORY_PREFIX}/"),
        arch=attrs.get("Architecture", "?"),
        version=labels.get(naming.LABEL_VERSION, "?"),
        tags=tags,
        digest=attrs.get("Id", "?"),
        size=int(attrs.get("Size", 0)),
    )


def list_images(client: docker.DockerClient) -> list[ListedImage]:
    """Every image carrying ``org.xedgesim.managed=true``, sorted by name then arch."""
    images = client.images.list(filters=naming.MANAGED_FILTER)
    return sorted((from_attrs(image.attrs) for image in images), key=lambda i: (i.name, i.arch))


def human_size(size: int) -> str:
    """Bytes as the engine's CLI shows them (decimal units)."""
    value = float(size)
    for unit in ("B", "kB", "MB"):
        if value < 1000:
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1000
    return f"{value:.1f}GB"


def format_table(rows: list[ListedImage]) -> str:
    """A fixed-width table: name, arch, digest, size, tags."""
    header = ("NAME", "ARCH", "DIGEST", "SIZE", "TAGS")
    lines = [header] + [
        (row.name, row.arch, row.digest, human_size(row.size), " ".join(row.tags) or "<none>")
        for row in rows
    ]
    widths = [max(len(line[column]) for line in lines) for column in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line[:-1], widths, strict=True))
        + "  "
        + line[-1]
        for line in lines
    )
