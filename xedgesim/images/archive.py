"""An image archive in the format ``docker save`` writes and ``docker load`` reads, made from one
root filesystem tarball.

Why not ``docker import``: Docker Engine 20.10 (Debian bookworm's docker.io) ignores the
architecture of the ``platform`` an import asks for and stamps the host's, so an arm64 rootfs
would be labelled amd64. Writing the image config ourselves puts the right architecture in it on
every engine, and loading keeps the layer bytes exactly as the tarball has them.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from xedgesim.images.naming import variant

CHUNK = 1 << 20
DEFAULT_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8")


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks (a rootfs tarball is hundreds of MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def image_config(
    arch: str,
    layer_sha256: str,
    labels: dict[str, str],
    created_by: str,
    created: datetime | None = None,
) -> dict[str, object]:
    """The OCI/Docker image config for a one-layer image of ``arch``."""
    stamp = (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    config: dict[str, object] = {
        "architecture": arch,
        "os": "linux",
        "created": stamp,
        "config": {"Env": list(DEFAULT_ENV), "Cmd": ["/bin/bash"], "Labels": dict(labels)},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_sha256}"]},
        "history": [{"created": stamp, "created_by": created_by}],
    }
    if arch_variant := variant(arch):
        config["variant"] = arch_variant
    return config


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    return info


def _small_file(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        archive.addfile(_member(name, len(data)), io.BytesIO(data))
    # Drop the two zero end-of-archive blocks (and any record padding): more members follow.
    body = buffer.getvalue()
    blocks = 1 + (len(data) + tarfile.BLOCKSIZE - 1) // tarfile.BLOCKSIZE
    return body[: blocks * tarfile.BLOCKSIZE]


def save_archive(
    layer: Path, layer_sha256: str, config: dict[str, object], tags: list[str]
) -> Iterator[bytes]:
    """Yield a ``docker save`` archive holding ``layer`` as the only layer, tagged ``tags``.

    It is streamed so a rootfs of any size goes to the engine without a second copy on disk.
    """
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = f"{layer_sha256}/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": tags, "Layers": [layer_name]}]
    yield _small_file(config_name, config_bytes)
    yield _small_file("manifest.json", json.dumps(manifest).encode())
    size = layer.stat().st_size
    yield _member(layer_name, size).tobuf(format=tarfile.USTAR_FORMAT)
    with layer.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk
    yield b"\0" * (-size % tarfile.BLOCKSIZE)
    yield b"\0" * (2 * tarfile.BLOCKSIZE)
